"""Flow state hooks: whatever ends a run, the records it drove reach a terminal state.

For served runs, on_crashed and on_cancellation run in the runner process, not the
flow's: these hooks depend only on the run's parameters and a fresh catalog session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from flows import context
from storage import catalog
from storage.catalog import share_backups, shares
from storage.errors import StorageError
from storage.sources import snapshot as copies

log = logging.getLogger(__name__)


def _reason(flow_run: Any, state: Any) -> str:
    return catalog.run_end_reason(str(flow_run.id), state.type.value, state.message)


def backup_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the backup operation (and release its volumes) of a run that did not finish."""
    backup_id = flow_run.parameters["backup_id"]
    with context.session() as s:
        reason = _reason(flow_run, state)
        if catalog.fail_operation(
            session=s, backup_id=backup_id, reason=reason, run_ids=(str(flow_run.id),)
        ):
            log.warning("backup %s: run %s ended %s", backup_id, flow_run.id, state.type.value)
        _remove_temp_snapshot(s, backup_id)


def _remove_temp_snapshot(session: Session, backup_id: str) -> None:
    """Remove the temporary copy a forced in-use backup may have left; reconcile retries."""
    backup = session.get(catalog.Backup, backup_id)
    if backup is None or backup.temp_snapshot_path is None:
        return
    if backup.status == catalog.BackupStatus.CREATING:
        return  # still (or again) in use by a run
    try:
        copies.remove_copy(Path(backup.temp_snapshot_path))
    except StorageError as exc:
        log.warning("backup %s: temporary snapshot not removed yet: %s", backup_id, exc)
        return
    catalog.forget_temp_snapshot(session=session, backup_id=backup_id)


def snapshot_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the snapshot operation of a run that did not finish."""
    snapshot_id = flow_run.parameters["snapshot_id"]
    with context.session() as s:
        reason = _reason(flow_run, state)
        if catalog.fail_snapshot(
            session=s, snapshot_id=snapshot_id, reason=reason, run_ids=(str(flow_run.id),)
        ):
            log.warning("snapshot %s: run %s ended %s", snapshot_id, flow_run.id, state.type.value)


def volume_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the volume operation of a run that did not finish."""
    volume_id = flow_run.parameters["volume_id"]
    with context.session() as s:
        reason = _reason(flow_run, state)
        if catalog.fail_volume(
            session=s, volume_id=volume_id, reason=reason, run_ids=(str(flow_run.id),)
        ):
            log.warning("volume %s: run %s ended %s", volume_id, flow_run.id, state.type.value)


def share_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the share operation of a run that did not finish."""
    share_id = flow_run.parameters["share_id"]
    with context.session() as s:
        reason = _reason(flow_run, state)
        if shares.fail_share(
            session=s, share_id=share_id, reason=reason, run_ids=(str(flow_run.id),)
        ):
            log.warning("share %s: run %s ended %s", share_id, flow_run.id, state.type.value)


def share_backup_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the share backup operation (and release its share) of a run that did not finish."""
    backup_id = flow_run.parameters["backup_id"]
    with context.session() as s:
        reason = _reason(flow_run, state)
        if share_backups.fail_share_backup(
            session=s, backup_id=backup_id, reason=reason, run_ids=(str(flow_run.id),)
        ):
            log.warning(
                "share backup %s: run %s ended %s", backup_id, flow_run.id, state.type.value
            )


def on_every_bad_end(hook: Callable[[Any, Any, Any], None]) -> dict[str, Any]:
    """@flow keyword arguments that call `hook` however a run ends without finishing:
    failed, crashed or cancelled."""
    return {event: [hook] for event in ("on_failure", "on_crashed", "on_cancellation")}


BACKUP_HOOKS = on_every_bad_end(backup_run_ended)
VOLUME_HOOKS = on_every_bad_end(volume_run_ended)
SNAPSHOT_HOOKS = on_every_bad_end(snapshot_run_ended)
SHARE_HOOKS = on_every_bad_end(share_run_ended)
SHARE_BACKUP_HOOKS = on_every_bad_end(share_backup_run_ended)
