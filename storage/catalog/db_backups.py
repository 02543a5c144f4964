"""Keyword-only catalog functions for database backups; each commits once.

A backup is NEW when the API accepts it, BUILDING while its run dumps the database and
COMPLETED once the chunk stream is committed. Delete takes the backup and every
descendant (FIELDS.md 10: children first), all DELETING until their run removes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any, Final

from sqlmodel import Session, col, select

from storage.catalog.cas import compare_and_set, require
from storage.catalog.db_instances import hold_for_backup, release_from_backup
from storage.catalog.db_models import DbBackup, DbBackupStatus, DbInstance
from storage.catalog.ownership import owner_where, owns, require_owned
from storage.catalog.rows import get_owned
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound

DB = DbBackupStatus
RUNNING: Final = frozenset({DB.NEW, DB.BUILDING, DB.SAVING})
TRANSITIONAL: Final = RUNNING | {DB.DELETING}
RESTORABLE: Final = frozenset({DB.COMPLETED, DB.RESTORED})
_DELETE_STATES: Final = frozenset({DB.DELETING, DB.DELETE_FAILED})


def begin_db_backup(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    instance: DbInstance,
    name: str,
    description: str | None,
    parent_id: str | None,
    incremental: bool,
    policy_id: str | None = None,
) -> DbBackup:
    """Hold the instance in BACKUP and insert the backup as NEW.

    With ``parent_id``, incremental on that backup (RecordNotFound unless it is the
    project's, of this instance, and restorable); with ``incremental``, on the newest
    COMPLETED backup of the instance, or full when there is none. InvalidStatus unless
    the instance is ACTIVE.
    """
    parent = _parent(session, project_id, instance, parent_id, incremental)
    hold_for_backup(session=session, instance=instance)
    backup = DbBackup(
        id=str(uuid.uuid4()),
        project_id=project_id,
        user_id=user_id,
        instance_id=instance.id,
        owner_id=instance.id,
        parent_id=parent.id if parent is not None else None,
        name=name,
        description=description,
        datastore=instance.datastore,
        datastore_version=instance.datastore_version,
        op_token=str(uuid.uuid4()),
        policy_id=policy_id,
    )
    session.add(backup)
    session.commit()
    session.refresh(backup)
    return backup


def _parent(
    session: Session,
    project_id: str,
    instance: DbInstance,
    parent_id: str | None,
    incremental: bool,
) -> DbBackup | None:
    if parent_id is not None:
        parent = get_owned(session, DbBackup, parent_id, project_id)
        if parent.owner_id != instance.id or parent.status not in RESTORABLE:
            raise RecordNotFound("DbBackup", parent_id)
        return parent
    if not incremental:
        return None
    stmt = (
        select(DbBackup)
        .where(DbBackup.owner_id == instance.id, DbBackup.status == DB.COMPLETED)
        .order_by(col(DbBackup.created_at).desc(), col(DbBackup.id).desc())
    )
    return session.exec(stmt).first()


def register_db_backup(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    backup_id: str,
    owner_id: str,
    name: str,
    description: str | None,
    datastore: str,
    version: str,
    size_bytes: int,
) -> DbBackup:
    """Insert a backup whose data already is in the store (Trove's restore_from) as
    RESTORED; InvalidRequest if a backup with that id is already in the catalog."""
    if session.get(DbBackup, backup_id) is not None:
        raise InvalidRequest(f"Backup {backup_id} is already registered.")
    backup = DbBackup(
        id=backup_id,
        project_id=project_id,
        user_id=user_id,
        owner_id=owner_id,
        name=name,
        description=description,
        datastore=datastore,
        datastore_version=version,
        status=DB.RESTORED,
        size_bytes=size_bytes,
    )
    session.add(backup)
    session.commit()
    session.refresh(backup)
    return backup


def get_db_backup(*, session: Session, backup_id: str, project_id: str | None = None) -> DbBackup:
    """The backup; RecordNotFound if missing or another project's."""
    return get_owned(session, DbBackup, backup_id, project_id)


def list_db_backups(
    *, session: Session, project_id: str | None, filters: Mapping[str, str] | None = None
) -> list[DbBackup]:
    """Backups of the project (every project for None), newest first, filtered by
    ``instance_id`` and ``datastore`` (type)."""
    stmt = select(DbBackup).order_by(col(DbBackup.created_at).desc(), col(DbBackup.id).desc())
    if project_id is not None:
        stmt = stmt.where(DbBackup.project_id == project_id)
    for key, value in (filters or {}).items():
        stmt = stmt.where(getattr(DbBackup, key) == value)
    return list(session.exec(stmt))


def start_db_backup(*, session: Session, backup_id: str, run_ids: Collection[str]) -> DbBackup:
    """NEW -> BUILDING by this run; LostOwnership unless the run drives it."""
    compare_and_set(
        session,
        DbBackup,
        backup_id,
        to=DB.BUILDING,
        expected={DB.NEW},
        where=owner_where(DbBackup, run_ids),
    )
    session.commit()
    return require_owned(
        session=session,
        model=DbBackup,
        record_id=backup_id,
        statuses={DB.BUILDING},
        run_ids=run_ids,
    )


def finish_db_backup(
    *, session: Session, backup_id: str, result: Mapping[str, Any], run_ids: Collection[str] = ()
) -> bool:
    """BUILDING -> COMPLETED with its sizes, the instance released; idempotent; False when
    settled by another path."""
    backup = get_db_backup(session=session, backup_id=backup_id)
    size = int(result["size_bytes"])
    changed = compare_and_set(
        session,
        DbBackup,
        backup_id,
        to=DB.COMPLETED,
        expected={DB.BUILDING, DB.SAVING},
        where=owner_where(DbBackup, run_ids),
        size_bytes=size,
        stored_bytes=int(result["stored_bytes"]),
        progress_done=size,
        progress_total=size,
        fail_reason=None,
    )
    if changed and backup.instance_id:
        release_from_backup(session=session, instance_id=backup.instance_id)
    session.commit()
    return changed


def fail_db_backup(
    *, session: Session, backup_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Settle a backup whose run ended badly (FAILED, or DELETE_FAILED for a delete) and
    release its instance; no-op (False) unless transitional and driven by ``run_ids``."""
    backup = session.get(DbBackup, backup_id)
    if backup is None or backup.status not in TRANSITIONAL:
        return False
    if run_ids and not owns(backup, TRANSITIONAL, run_ids):
        return False
    status = backup.status
    to = DB.DELETE_FAILED if status == DB.DELETING else DB.FAILED
    changed = compare_and_set(
        session, DbBackup, backup_id, to=to, expected={status}, fail_reason=reason
    )
    if status in RUNNING and backup.instance_id:
        release_from_backup(session=session, instance_id=backup.instance_id)
    session.commit()
    return changed


def subtree(*, session: Session, backup_id: str) -> list[DbBackup]:
    """The backup and every descendant, leaves first (children before their parent)."""
    root = session.get(DbBackup, backup_id)
    if root is None:
        return []
    order: list[DbBackup] = []
    pending = [root]
    while pending:
        node = pending.pop()
        order.append(node)
        pending.extend(session.exec(select(DbBackup).where(DbBackup.parent_id == node.id)))
    return order[::-1]


def begin_db_backup_delete(
    *, session: Session, backup_id: str, project_id: str | None
) -> list[DbBackup]:
    """The backup and its descendants -> DELETING (leaves first in the result);
    RecordNotFound for another project's; InvalidStatus (Trove's 422) while any runs."""
    get_db_backup(session=session, backup_id=backup_id, project_id=project_id)
    rows = subtree(session=session, backup_id=backup_id)
    busy = [row.id for row in rows if row.status in RUNNING]
    if busy:
        raise InvalidStatus(f"Backup {busy[0]} is still running: it cannot be deleted yet.")
    for row in rows:
        before = row.status_before_delete if row.status in _DELETE_STATES else row.status
        changed = compare_and_set(
            session,
            DbBackup,
            row.id,
            to=DB.DELETING,
            expected={DB.COMPLETED, DB.FAILED, DB.RESTORED, *_DELETE_STATES},
            flow_run_id=None,
            fail_reason=None,
            status_before_delete=before,
            op_token=str(uuid.uuid4()),  # a new attempt: deleting again is a new run
        )
        require(changed, f"Backup {row.id} changed while its delete began; try again.")
    session.commit()
    return rows


def require_db_backup(
    *, session: Session, backup_id: str, statuses: Collection[str], run_ids: Collection[str]
) -> DbBackup:
    """The backup, fresh; LostOwnership unless the run still drives it."""
    return require_owned(
        session=session, model=DbBackup, record_id=backup_id, statuses=statuses, run_ids=run_ids
    )


def delete_db_backup_row(*, session: Session, backup_id: str) -> None:
    """Drop a deleted backup's row; idempotent."""
    backup = session.get(DbBackup, backup_id)
    if backup is not None:
        session.delete(backup)
        session.commit()


def stop_delete(
    *, session: Session, failed_id: str, untouched: Collection[str], reason: str
) -> None:
    """A cascade stopped at ``failed_id``: it goes DELETE_FAILED with the reason; every
    backup in ``untouched`` (its data never touched) back to what it was before."""
    compare_and_set(
        session,
        DbBackup,
        failed_id,
        to=DB.DELETE_FAILED,
        expected={DB.DELETING},
        fail_reason=reason,
    )
    for backup_id in untouched:
        row = session.get(DbBackup, backup_id)
        if row is not None and row.status == DB.DELETING:
            compare_and_set(
                session,
                DbBackup,
                backup_id,
                to=row.status_before_delete or DB.COMPLETED,
                expected={DB.DELETING},
                fail_reason=f"not deleted: the cascade stopped at backup {failed_id}",
            )
    session.commit()
