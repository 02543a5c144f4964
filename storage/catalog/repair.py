"""Repair rows whose flow run ended without telling the catalog (crash, cancel, kill)."""

from __future__ import annotations

from sqlmodel import Session

from storage.catalog.backups import backup_for_volume_run, fail_operation
from storage.catalog.models import Backup, Snapshot, Volume
from storage.catalog.share_backups import fail_share_backup, share_backup_for_run
from storage.catalog.share_models import Share, ShareBackup
from storage.catalog.shares import fail_share
from storage.catalog.snapshots import fail_snapshot
from storage.catalog.volumes import fail_volume

# Prefect state types after which a run will never move the row on.
ENDED_BADLY = frozenset({"FAILED", "CRASHED", "CANCELLED"})


Repairable = Backup | Volume | Snapshot | Share | ShareBackup


def repair_after_run(*, session: Session, record: Repairable, reason: str) -> bool:
    """Move a record (and what its run held) to its terminal error state; idempotent."""
    if isinstance(record, ShareBackup):
        return fail_share_backup(session=session, backup_id=record.id, reason=reason)
    if isinstance(record, Share):
        held_by = share_backup_for_run(session=session, share=record)
        if held_by is not None:
            return fail_share_backup(session=session, backup_id=held_by.id, reason=reason)
        return fail_share(session=session, share_id=record.id, reason=reason)
    if isinstance(record, Backup):
        return fail_operation(session=session, backup_id=record.id, reason=reason)
    if isinstance(record, Snapshot):
        return fail_snapshot(session=session, snapshot_id=record.id, reason=reason)
    backup = backup_for_volume_run(session=session, volume=record)
    if backup is not None:
        return fail_operation(session=session, backup_id=backup.id, reason=reason)
    return fail_volume(session=session, volume_id=record.id, reason=reason)


def run_end_reason(flow_run_id: str, state_type: str | None, message: str | None) -> str:
    """The fail_reason recorded for a run that ended without finishing its record."""
    if state_type is None:
        return f"flow run {flow_run_id} no longer exists"
    detail = f": {message}" if message else ""
    return f"flow run {flow_run_id} {state_type.lower()}{detail}"
