"""Keyword-only catalog functions for database instances; each commits once.

`begin_*` are the API's guard-and-transition steps, `finish_*`/`fail_instance` the
flows'. An instance in BACKUP is held by the backup run that is dumping it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from typing import Final

from sqlmodel import Session, col, select

from storage.catalog.cas import compare_and_set, require
from storage.catalog.db_models import DbBackup, DbBackupStatus, DbInstance, InstanceStatus
from storage.catalog.ownership import owner_where, owns, require_owned
from storage.catalog.rows import get_owned
from storage.errors import InvalidRequest

IS = InstanceStatus
TRANSITIONAL: Final = frozenset({IS.BUILD, IS.BACKUP, IS.SHUTDOWN})
# What a run that ended badly leaves: a dump only read the database.
_FAILURES: Final[dict[str, str]] = {IS.BUILD: IS.ERROR, IS.BACKUP: IS.ACTIVE, IS.SHUTDOWN: IS.ERROR}
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}$")


def database_name(instance_id: str) -> str:
    """The database's name on its server: derived from the id, so never user-chosen SQL."""
    return "safehold_" + instance_id.replace("-", "")[:32]


def create_instance(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    name: str,
    datastore: str,
    version: str,
    volume_size: int,
    database: str | None = None,
    restore_backup_id: str | None = None,
    managed: bool = False,
) -> DbInstance:
    """Insert an instance row in BUILD (its database named ``database``, or after its id);
    InvalidRequest for a bad name or size, or a database another instance holds."""
    if not _NAME.fullmatch(name):
        raise InvalidRequest("Instance name must be 1-255 printable characters.")
    if volume_size < 1:
        raise InvalidRequest("Volume size must be a positive integer.")
    instance_id = str(uuid.uuid4())
    database = database or database_name(instance_id)
    clash = select(DbInstance).where(
        DbInstance.datastore == datastore, DbInstance.database == database
    )
    if session.exec(clash).first() is not None:
        raise InvalidRequest(f"Database {database} already belongs to an instance.")
    instance = DbInstance(
        id=instance_id,
        project_id=project_id,
        user_id=user_id,
        name=name,
        datastore=datastore,
        datastore_version=version,
        database=database,
        volume_size=volume_size,
        restore_backup_id=restore_backup_id,
        managed=managed,
        op_token=str(uuid.uuid4()),
    )
    session.add(instance)
    session.commit()
    session.refresh(instance)
    return instance


def get_instance(
    *, session: Session, instance_id: str, project_id: str | None = None
) -> DbInstance:
    """The instance; RecordNotFound if missing or another project's."""
    return get_owned(session, DbInstance, instance_id, project_id)


def list_instances(*, session: Session, project_id: str | None) -> list[DbInstance]:
    """The project's instances (every project's for None), oldest first."""
    stmt = select(DbInstance).order_by(col(DbInstance.created_at), col(DbInstance.id))
    if project_id is not None:
        stmt = stmt.where(DbInstance.project_id == project_id)
    return list(session.exec(stmt))


def begin_instance_delete(
    *, session: Session, instance_id: str, project_id: str | None
) -> DbInstance:
    """ACTIVE/ERROR -> SHUTDOWN; InvalidStatus while it builds or a backup dumps it."""
    instance = get_instance(session=session, instance_id=instance_id, project_id=project_id)
    changed = compare_and_set(
        session,
        DbInstance,
        instance_id,
        to=IS.SHUTDOWN,
        expected={IS.ACTIVE, IS.ERROR},
        flow_run_id=None,
        op_token=str(uuid.uuid4()),
    )
    session.commit()
    require(changed, f"Instance {instance_id} is {instance.status}: it cannot be deleted now.")
    session.refresh(instance)
    return instance


def hold_for_backup(*, session: Session, instance: DbInstance) -> None:
    """ACTIVE -> BACKUP (no commit); InvalidStatus from any other status."""
    changed = compare_and_set(session, DbInstance, instance.id, to=IS.BACKUP, expected={IS.ACTIVE})
    require(changed, f"Instance {instance.id} is {instance.status}, not ACTIVE.")


def release_from_backup(*, session: Session, instance_id: str) -> None:
    """BACKUP -> ACTIVE (no commit); a no-op otherwise."""
    compare_and_set(session, DbInstance, instance_id, to=IS.ACTIVE, expected={IS.BACKUP})


def finish_build(
    *, session: Session, instance_id: str, used_bytes: int, run_ids: Collection[str] = ()
) -> bool:
    """BUILD -> ACTIVE with its size; idempotent; False when settled by another path."""
    changed = compare_and_set(
        session,
        DbInstance,
        instance_id,
        to=IS.ACTIVE,
        expected={IS.BUILD},
        where=owner_where(DbInstance, run_ids),
        used_bytes=used_bytes,
        fail_reason=None,
    )
    session.commit()
    return changed


def set_used_bytes(*, session: Session, instance_id: str, used_bytes: int) -> None:
    """Record the database's size as last measured."""
    instance = session.get(DbInstance, instance_id)
    if instance is not None:
        instance.used_bytes = used_bytes
        session.add(instance)
        session.commit()


def require_instance(
    *, session: Session, instance_id: str, statuses: Collection[str], run_ids: Collection[str]
) -> DbInstance:
    """The instance, fresh; LostOwnership unless the run still drives it."""
    return require_owned(
        session=session, model=DbInstance, record_id=instance_id, statuses=statuses, run_ids=run_ids
    )


def delete_instance_row(
    *, session: Session, instance_id: str, run_ids: Collection[str] = ()
) -> None:
    """Drop a shut-down instance's row (its backups stay, as Trove's); idempotent."""
    instance = session.get(DbInstance, instance_id)
    if instance is None:
        return
    if run_ids:
        require_instance(
            session=session, instance_id=instance_id, statuses={IS.SHUTDOWN}, run_ids=run_ids
        )
    session.delete(instance)
    session.commit()


def fail_instance(
    *, session: Session, instance_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Settle an instance whose run ended badly; no-op (False) unless transitional and
    (with ``run_ids``) driven by one of them."""
    instance = session.get(DbInstance, instance_id)
    if instance is None or instance.status not in TRANSITIONAL:
        return False
    if run_ids and not owns(instance, TRANSITIONAL, run_ids):
        return False
    status = instance.status
    changed = compare_and_set(
        session,
        DbInstance,
        instance_id,
        to=_FAILURES[status],
        expected={status},
        fail_reason=None if status == IS.BACKUP else reason,
    )
    session.commit()
    return changed


def backup_holding(*, session: Session, instance: DbInstance) -> DbBackup | None:
    """The running backup that holds an instance in BACKUP (its run drives it), if any."""
    if instance.status != IS.BACKUP:
        return None
    running = (DbBackupStatus.NEW, DbBackupStatus.BUILDING, DbBackupStatus.SAVING)
    stmt = select(DbBackup).where(
        DbBackup.instance_id == instance.id, col(DbBackup.status).in_(running)
    )
    return session.exec(stmt).first()
