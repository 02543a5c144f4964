"""Stored backups shared by several rows: who reads which data, and who may delete it.

A row reads the stored backup named by its ``data_id`` (its own id unless it was imported
under a new id). Several rows may read one stored backup; the stored backup is deleted
by the run that removes the last row reading it (docs/format.md §6, docs/states.md).
Incremental chains need nothing more: a row with children cannot be deleted, and a
child's parent row reads the data the child's manifest was written against, so every
stored backup a remaining manifest references is read by some remaining row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from storage.catalog.cascade import ready_to_delete
from storage.catalog.models import Backup, BackupStatus
from storage.catalog.ownership import require_deleting


@dataclass(frozen=True)
class DataRelease:
    """What a delete run does with the stored backup its row reads."""

    data_id: str
    shared: bool  # another row reads it too: keep it while that row exists


def readers(*, session: Session, data_id: str, excluding: str | None = None) -> list[Backup]:
    """Rows reading stored backup ``data_id`` (but ``excluding``); reads only."""
    stmt = select(Backup).where(Backup.data_id == data_id)
    if excluding is not None:
        stmt = stmt.where(col(Backup.id) != excluding)
    return list(session.exec(stmt))


def plan_release(
    *, session: Session, backup_id: str, run_ids: Collection[str] = ()
) -> DataRelease | None:
    """How the deleting row's run treats its data; None if the row is already gone.

    InvalidStatus as ready_to_delete (the row is not deleting, or has children);
    LostOwnership when, with ``run_ids``, another run drives the delete now.
    """
    if not ready_to_delete(session=session, backup_id=backup_id):
        return None
    require_deleting(session=session, model=Backup, record_id=backup_id, run_ids=run_ids)
    backup = session.get(Backup, backup_id)
    if backup is None:  # removed since ready_to_delete looked: an earlier run finished
        return None
    other = select(Backup.id).where(Backup.data_id == backup.data_id, col(Backup.id) != backup_id)
    shared = session.exec(other.limit(1)).first() is not None
    return DataRelease(data_id=backup.data_id, shared=shared)


def data_ids(*, session: Session) -> set[str]:
    """Every stored-backup id some row reads; reads only."""
    return set(session.exec(select(Backup.data_id).distinct()).all())


def is_unread(*, session: Session, data_id: str) -> bool:
    """True iff no row reads stored backup ``data_id`` any more; reads only.

    A delete run that found its data shared asks this after removing its own row: when
    every sharer was deleted concurrently, the last one out deletes the data.
    """
    stmt = select(func.count()).select_from(Backup).where(Backup.data_id == data_id)
    return int(session.exec(stmt).one()) == 0


def being_released(*, session: Session, data_id: str) -> bool:
    """True iff rows read ``data_id`` and every one of them is being deleted: its data
    may vanish at any moment, so nothing new may start reading it; reads only."""
    rows = readers(session=session, data_id=data_id)
    return bool(rows) and all(row.status == BackupStatus.DELETING for row in rows)
