"""Status follows the flow for shares and share backups (as api/follow.py for Cinder).

A row in a transitional status whose driving run failed, crashed, was cancelled or
vanished is repaired on read; settled rows cost nothing. A share held by a backup or
restore is driven by that backup's run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session

from api.runs import Runs
from storage.catalog import ENDED_BADLY, Share, ShareBackup, repair_after_run, run_end_reason
from storage.catalog.lifecycle import SHARE_BACKUP_TRANSITIONAL, SHARE_TRANSITIONAL
from storage.catalog.share_backups import get_share_backup, share_backup_for_run
from storage.catalog.shares import get_share

logger = logging.getLogger(__name__)


def settle_shares(*, session: Session, runs: Runs, shares: Sequence[Share]) -> None:
    """Repair the transitional shares among `shares` whose driving run ended badly."""
    pairs: list[tuple[Share | ShareBackup, str | None]] = [
        (share, _driving_run(session, share))
        for share in shares
        if share.status in SHARE_TRANSITIONAL
    ]
    _settle(session, runs, pairs)


def settle_share_backups(*, session: Session, runs: Runs, backups: Sequence[ShareBackup]) -> None:
    """Repair the transitional backups among `backups` whose run ended badly."""
    pairs: list[tuple[Share | ShareBackup, str | None]] = [
        (backup, backup.flow_run_id)
        for backup in backups
        if backup.status in SHARE_BACKUP_TRANSITIONAL
    ]
    _settle(session, runs, pairs)


def settled_share(*, session: Session, runs: Runs, share_id: str, project_id: str | None) -> Share:
    """The share as its run left it; RecordNotFound when missing or another project's."""
    share = get_share(session=session, share_id=share_id, project_id=project_id)
    settle_shares(session=session, runs=runs, shares=[share])
    return share


def settled_share_backup(
    *, session: Session, runs: Runs, backup_id: str, project_id: str | None
) -> ShareBackup:
    """The backup as its run left it; RecordNotFound when missing or another project's."""
    backup = get_share_backup(session=session, backup_id=backup_id, project_id=project_id)
    settle_share_backups(session=session, runs=runs, backups=[backup])
    return backup


def _driving_run(session: Session, share: Share) -> str | None:
    backup = share_backup_for_run(session=session, share=share)
    return backup.flow_run_id if backup is not None else share.flow_run_id


def _settle(
    session: Session, runs: Runs, pairs: Sequence[tuple[Share | ShareBackup, str | None]]
) -> None:
    watched = [(record, run_id) for record, run_id in pairs if run_id]
    if not watched:
        return
    states = runs.states({run_id for _, run_id in watched})
    for record, run_id in watched:
        if run_id not in states:
            continue  # unreadable: leave the row as the catalog has it
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
