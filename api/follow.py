"""Status follows the flow: a transitional row whose run ended badly is repaired on read.

Only rows in a transitional status are checked, so settled rows cost nothing. The
reconcile flow does the same on a schedule; this makes the API truthful in between.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session

from api.runs import Runs
from storage.catalog import (
    ENDED_BADLY,
    Backup,
    Snapshot,
    Volume,
    backup_for_volume_run,
    repair_after_run,
    run_end_reason,
)
from storage.catalog.lifecycle import (
    BACKUP_TRANSITIONAL,
    SNAPSHOT_TRANSITIONAL,
    VOLUME_TRANSITIONAL,
)

logger = logging.getLogger(__name__)


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
