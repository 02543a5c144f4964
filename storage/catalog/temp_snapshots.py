"""The temporary snapshot a forced backup of an in-use volume is read from.

Its path is recorded on the backup row before the copy is made and cleared only after
the file is gone, so whoever finds a recorded path (the flow's `finally`, the failure
hooks, reconcile) knows there may be a file to remove.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.catalog.models import Backup, BackupStatus


def record_temp_snapshot(*, session: Session, backup_id: str, path: str) -> None:
    """Remember that a temporary copy for the backup may exist at `path`."""
    backup = session.get(Backup, backup_id)
    if backup is not None:
        backup.temp_snapshot_path = path
        session.add(backup)
        session.commit()


def forget_temp_snapshot(*, session: Session, backup_id: str) -> None:
    """Clear the recorded path once its file has been removed; idempotent."""
    backup = session.get(Backup, backup_id)
    if backup is not None and backup.temp_snapshot_path is not None:
        backup.temp_snapshot_path = None
        session.add(backup)
        session.commit()


def leftover_temp_snapshots(*, session: Session) -> list[Backup]:
    """Backups no run is creating any more that still record a temporary copy."""
    stmt = select(Backup).where(
        col(Backup.temp_snapshot_path).is_not(None), Backup.status != BackupStatus.CREATING
    )
    return list(session.exec(stmt))
