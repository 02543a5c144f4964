"""import_record: a decoded backup record becomes an available backup row.

The row reads the stored backup the record names (``ImportedRecord.data_id``), whatever
id it is imported under, so several rows may share one stored backup (docs/format.md §6).
Chains are imported parents first: a record whose parent is not in the catalog (or not
available) is refused, and importing a child counts it on its parent in the same
transaction, with the guard incremental backups use (storage.catalog.chains).
Whether the backup's data is in storage, and whether the parent row reads the data the
stored backup was written against, is the caller's check (storage.format.scan and
check_stored_data), made between check_import and import_backup.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from storage.catalog.chains import add_dependent
from storage.catalog.export import SERVICE_PREFIXES, ImportedRecord, is_safehold_service
from storage.catalog.models import Backup, BackupStatus, Volume, utcnow
from storage.catalog.shared_data import being_released
from storage.errors import InvalidRequest

log = logging.getLogger(__name__)

# Cinder's volume_id for an imported backup whose volume it does not know.
NIL_VOLUME_ID: Final = "00000000-0000-0000-0000-000000000000"
_EXISTS: Final = "Invalid backup: Backup already exists in database."


def check_import(
    *, session: Session, record: ImportedRecord, backup_service: str, project_id: str
) -> None:
    """Refuse (InvalidRequest) a foreign service, an existing id, or a parent missing from
    the importing project (a chain never spans projects: cascades stay in one)."""
    if not is_safehold_service(backup_service):
        raise InvalidRequest(
            f"Invalid backup: backup service {backup_service!r} is not served here; "
            f"this service imports records of services named {SERVICE_PREFIXES[0]}*."
        )
    if session.get(Backup, record.id) is not None:
        raise InvalidRequest(_EXISTS)
    if record.parent_id is not None:
        parent = session.get(Backup, record.parent_id)
        if parent is None or parent.project_id != project_id:
            raise InvalidRequest(
                f"Invalid backup: parent backup {record.parent_id} of incremental backup "
                f"{record.id} is not in the catalog; import the parent first."
            )
        if parent.status != BackupStatus.AVAILABLE:
            raise InvalidRequest(_parent_unusable(record))


def check_stored_data(
    *, session: Session, record: ImportedRecord, stored_parent: str | None
) -> None:
    """InvalidRequest when the record's stored backup is being deleted (every row reading
    it is deleting), or unless the record's parent row reads the stored backup that the
    record's data was written against (``stored_parent``, from its manifest); reads only.

    Rows chain by row id, stored backups by data id: an incremental imported under a new
    id names its parent row (the original or an import of it), whose data must be the
    manifest's parent.
    """
    if being_released(session=session, data_id=record.data_id()):
        raise InvalidRequest(
            f"Invalid backup: the stored backup {record.data_id()} is being deleted."
        )
    parent = session.get(Backup, record.parent_id) if record.parent_id else None
    parent_data = parent.data_id if parent is not None else None
    if parent_data != stored_parent:
        raise InvalidRequest(
            f"Invalid backup: the record names parent {record.parent_id} but the stored "
            f"backup {record.data_id()} was written against "
            f"{stored_parent or 'no parent'}; import the parent's record first and name "
            f"its id as parent_id."
        )


def _parent_unusable(record: ImportedRecord) -> str:
    return (
        f"Invalid backup: parent backup {record.parent_id} must be available to import "
        f"its incremental backup {record.id}."
    )


def import_backup(
    *,
    session: Session,
    record: ImportedRecord,
    backup_service: str,
    project_id: str,
    user_id: str,
) -> Backup:
    """Insert the record as an available backup of the caller's project; commits once.

    Raises InvalidRequest as check_import does; a concurrent import of the same id loses
    with "already exists". A child increments its parent's num_dependent_backups in the
    same transaction, guarded on the parent still being available.
    """
    check_import(
        session=session, record=record, backup_service=backup_service, project_id=project_id
    )
    backup = _row(session, record, backup_service, project_id, user_id)
    if record.parent_id is not None and not add_dependent(
        session=session, parent_id=record.parent_id
    ):
        session.rollback()  # the parent changed status since check_import
        raise InvalidRequest(_parent_unusable(record))
    session.add(backup)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise InvalidRequest(_EXISTS) from None
    session.refresh(backup)
    log.info("backup %s: imported into project %s", backup.id, project_id)
    return backup


def _row(
    session: Session, record: ImportedRecord, backup_service: str, project_id: str, user_id: str
) -> Backup:
    # Cinder's volume_id survives only when that volume is in this catalog.
    now = utcnow()
    created_at = record.created_at or now
    volume_id = NIL_VOLUME_ID
    if record.volume_id is not None and session.get(Volume, record.volume_id) is not None:
        volume_id = record.volume_id
    return Backup(
        id=record.id,
        data_id=record.data_id(),
        project_id=project_id,
        user_id=user_id,
        volume_id=volume_id,
        snapshot_id=record.snapshot_id,
        parent_id=record.parent_id,
        name=record.display_name,
        description=record.display_description,
        status=BackupStatus.AVAILABLE,
        size=record.size,
        object_count=record.object_count,
        stored_bytes=_stored_bytes(record),
        container=record.container,
        availability_zone=record.availability_zone,
        meta=dict(record.metadata or {}),
        num_dependent_backups=_children(session, record.id),
        service=_service(record, backup_service),
        service_metadata=record.service_metadata,
        encryption_key_id=record.encryption_key_id,
        created_at=created_at,
        updated_at=now,
        data_timestamp=record.data_timestamp or created_at,
    )


def _stored_bytes(record: ImportedRecord) -> int:
    value = (record.driver_info or {}).get("stored_bytes")
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


def _service(record: ImportedRecord, backup_service: str) -> str:
    if record.service and is_safehold_service(record.service):
        return record.service
    return backup_service[:255]


def _children(session: Session, backup_id: str) -> int:
    # Rows of children may outlive a lost parent row: count them, do not assume zero.
    stmt = select(func.count()).select_from(Backup).where(Backup.parent_id == backup_id)
    return int(session.exec(stmt).one())
