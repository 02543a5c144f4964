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
from storage.errors import StorageError
from storage.sources import snapshot as copies

log = logging.getLogger(__name__)


def _reason(flow_run: Any, state: Any) -> str:
    return catalog.run_end_reason(str(flow_run.id), state.type.value, state.message)


Hook = Callable[[Any, Any, Any], None]


def run_ended(kind: str, after: Callable[[Session, str], None] | None = None) -> Hook:
    """A state hook that fails the operation (and releases what it held) of a run of a
    ``kind`` flow that did not finish, then calls ``after(session, record_id)``."""
    declared = catalog.KINDS[kind]

    def hook(_flow: Any, flow_run: Any, state: Any) -> None:
        record_id = flow_run.parameters[declared.param]
        with context.session() as s:
            if declared.fail(s, record_id, _reason(flow_run, state), (str(flow_run.id),)):
                log.warning(
                    "%s %s: run %s ended %s", kind, record_id, flow_run.id, state.type.value
                )
            if after is not None:
                after(s, record_id)

    hook.__name__ = f"{kind}_run_ended"
    return hook


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


def on_every_bad_end(hook: Hook) -> dict[str, Any]:
    """@flow keyword arguments that call `hook` however a run ends without finishing:
    failed, crashed or cancelled."""
    return {event: [hook] for event in ("on_failure", "on_crashed", "on_cancellation")}


backup_run_ended = run_ended("backup", after=_remove_temp_snapshot)
volume_run_ended = run_ended("volume")
snapshot_run_ended = run_ended("snapshot")
share_run_ended = run_ended("share")
share_backup_run_ended = run_ended("share_backup")
db_instance_run_ended = run_ended("db_instance")
db_backup_run_ended = run_ended("db_backup")

BACKUP_HOOKS = on_every_bad_end(backup_run_ended)
VOLUME_HOOKS = on_every_bad_end(volume_run_ended)
SNAPSHOT_HOOKS = on_every_bad_end(snapshot_run_ended)
SHARE_HOOKS = on_every_bad_end(share_run_ended)
SHARE_BACKUP_HOOKS = on_every_bad_end(share_backup_run_ended)
DB_INSTANCE_HOOKS = on_every_bad_end(db_instance_run_ended)
DB_BACKUP_HOOKS = on_every_bad_end(db_backup_run_ended)
