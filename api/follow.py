"""Status follows the flow: a transitional row whose run ended badly is repaired on read.

Only rows in a transitional status are checked, so settled rows cost nothing. The
reconcile flow does the same on a schedule; this makes the API truthful in between.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from sqlmodel import Session

from api.runs import Runs
from storage.catalog import (
    ENDED_BADLY,
    Backup,
    Snapshot,
    Volume,
    backup_for_volume_run,
    get_backup,
    get_snapshot,
    get_volume,
    repair_after_run,
    run_end_reason,
)
from storage.catalog.lifecycle import (
    BACKUP_TRANSITIONAL,
    SNAPSHOT_TRANSITIONAL,
    VOLUME_TRANSITIONAL,
)

logger = logging.getLogger(__name__)

ENDED: Final = ENDED_BADLY | {"COMPLETED"}


def settle_backups(*, session: Session, runs: Runs, backups: Sequence[Backup]) -> None:
    """Repair the transitional backups among `backups` whose run failed, crashed or vanished."""
    _settle(session, runs, [(b, b.flow_run_id) for b in backups if b.status in BACKUP_TRANSITIONAL])


def settle_volumes(*, session: Session, runs: Runs, volumes: Sequence[Volume]) -> None:
    """Repair the transitional volumes among `volumes` whose driving run ended badly."""
    pairs: list[tuple[Backup | Volume, str | None]] = [
        (v, _driving_run(session, v)) for v in volumes if v.status in VOLUME_TRANSITIONAL
    ]
    _settle(session, runs, pairs)


def settle_snapshots(*, session: Session, runs: Runs, snapshots: Sequence[Snapshot]) -> None:
    """Repair the snapshots being created or deleted whose run failed, crashed or vanished."""
    _settle(
        session,
        runs,
        [(s, s.flow_run_id) for s in snapshots if s.status in SNAPSHOT_TRANSITIONAL],
    )


def settled_backup(
    *, session: Session, runs: Runs, backup_id: str, project_id: str | None
) -> Backup:
    """The backup as its run left it (repaired if that run ended badly); RecordNotFound
    when missing or another project's (project_id None: any project's)."""
    backup = get_backup(session=session, backup_id=backup_id, project_id=project_id)
    settle_backups(session=session, runs=runs, backups=[backup])
    return backup


def settled_volume(
    *, session: Session, runs: Runs, volume_id: str, project_id: str | None
) -> Volume:
    """The volume as its driving run left it; RecordNotFound as settled_backup."""
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    settle_volumes(session=session, runs=runs, volumes=[volume])
    return volume


def settled_snapshot(
    *, session: Session, runs: Runs, snapshot_id: str, project_id: str | None
) -> Snapshot:
    """The snapshot as its run left it; RecordNotFound as settled_backup."""
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    settle_snapshots(session=session, runs=runs, snapshots=[snapshot])
    return snapshot


def run_is_live(*, runs: Runs, run_id: str | None) -> bool:
    """Whether the run may still be working: True unless it is known to have ended (no
    id yet, or a state the orchestrator could not tell, counts as live)."""
    if run_id is None:
        return True  # the API records the id just after submitting: a run may exist
    states = runs.states({run_id})
    if run_id not in states:
        return True
    state = states[run_id]
    return state is not None and state.type not in ENDED


def _driving_run(session: Session, volume: Volume) -> str | None:
    # A backup or restore holds the volume with the backup's run, not the volume's own.
    backup = backup_for_volume_run(session=session, volume=volume)
    return backup.flow_run_id if backup is not None else volume.flow_run_id


def _settle(
    session: Session,
    runs: Runs,
    pairs: Sequence[tuple[Backup | Volume | Snapshot, str | None]],
) -> None:
    watched = [(record, run_id) for record, run_id in pairs if run_id]
    if not watched:
        return
    states = runs.states({run_id for _, run_id in watched})
    for record, run_id in watched:
        if run_id not in states:
            continue
        state = states[run_id]
        if state is not None and state.type not in ENDED_BADLY:
            continue
        reason = run_end_reason(
            run_id,
            state.type if state is not None else None,
            state.message if state is not None else None,
        )
        if repair_after_run(session=session, record=record, reason=reason):
            logger.warning("%s %s: %s", type(record).__name__.lower(), record.id, reason)
