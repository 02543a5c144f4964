"""Incremental chains in the catalog: choosing a parent and counting dependents.

A child's parent_id is set, and the parent's num_dependent_backups raised, in the
transaction that inserts the child; the count drops in the transaction that removes the
child's row. Both are single atomic UPDATEs (never read-modify-write), and the raise is
guarded by the parent's status, so it cannot interleave with a delete of the parent: a
delete's compare-and-set requires num_dependent_backups = 0 (see begin_backup_delete).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.catalog.models import Backup, BackupStatus

NO_PARENT = "Invalid backup: No backups available to do an incremental backup."
PARENT_GONE = "Invalid backup: The parent backup must be available for incremental backup."


def select_parent(
    *,
    session: Session,
    volume_id: str,
    project_id: str,
    taken_before: datetime | None = None,
) -> Backup | None:
    """The volume's available backup with the newest data_timestamp, or None.

    ``taken_before`` is the hook for backups of a snapshot: only backups whose data is
    older than the snapshot qualify (Cinder compares with the snapshot's created_at).
    Ties on data_timestamp go to the newest created_at, then the id, to be deterministic.
    """
    stmt = select(Backup).where(
        Backup.volume_id == volume_id,
        Backup.project_id == project_id,
        Backup.status == BackupStatus.AVAILABLE,
    )
    if taken_before is not None:
        stmt = stmt.where(col(Backup.data_timestamp) < taken_before)
    stmt = stmt.order_by(
        col(Backup.data_timestamp).desc(), col(Backup.created_at).desc(), col(Backup.id).desc()
    )
    return session.exec(stmt).first()


def add_dependent(*, session: Session, parent_id: str) -> bool:
    """Count one more child of an available parent, atomically; no commit.

    False when the parent is no longer available (being deleted, restored, gone): the
    caller must then refuse the child.
    """
    table: Any = Backup
    stmt = (
        update(table)
        .where(table.id == parent_id, table.status == BackupStatus.AVAILABLE)
        .values(num_dependent_backups=table.num_dependent_backups + 1)
    )
    result: Any = session.exec(stmt)
    return bool(result.rowcount)


def drop_dependent(*, session: Session, parent_id: str) -> None:
    """Count one child fewer, atomically and never below zero; no commit."""
    table: Any = Backup
    stmt = (
        update(table)
        .where(table.id == parent_id, table.num_dependent_backups > 0)
        .values(num_dependent_backups=table.num_dependent_backups - 1)
    )
    session.exec(stmt)


def child_ids(*, session: Session, backup_id: str) -> list[str]:
    """Ids of the backups whose parent is ``backup_id``, newest data first."""
    stmt = (
        select(Backup.id)
        .where(Backup.parent_id == backup_id)
        .order_by(col(Backup.data_timestamp).desc(), col(Backup.id).desc())
    )
    return list(session.exec(stmt))
