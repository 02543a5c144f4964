"""Cinder's export_record encoding: a backup row <-> base64 of a UTF-8 JSON object.

The JSON object holds every field of Cinder's backup record, in Cinder's names
(FIELDS.md 3.6), plus ``driver_info`` with what only Safehold knows: where the data is
(the store URL, never credentials, and ``data_id``, the stored backup the row reads), the
format version, stored bytes and the parent chain. Because the record names its data,
a record imported under another id (tempest changes the ``id``) reads the same stored
backup as the row it was exported from.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, NonNegativeInt, StringConstraints
from pydantic import ValidationError as PydanticValidationError
from sqlmodel import Session

from storage.catalog.backups import get_backup
from storage.catalog.models import Backup, BackupStatus
from storage.errors import InvalidKey, InvalidRequest, InvalidStatus
from storage.format.manifest import MANIFEST_VERSION
from storage.layout import backup_id_of, manifest_key, validate_backup_id

# import_record accepts only records of Safehold's services (Cinder matches driver
# prefixes): today's Cinder-style driver path, and the name written before it.
SERVICE_PREFIXES: Final = ("cinder.backup.drivers.safehold.", "safehold.")
_MAX_CHAIN: Final = 10_000  # a longer parent chain can only be a cycle


def _backup_id(value: str) -> str:
    # Backup ids name store keys, which are lowercase: accept any UUID spelling, store one.
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a 'uuid'") from None


BackupId = Annotated[str, AfterValidator(_backup_id)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
Id36 = Annotated[str, StringConstraints(max_length=36)]


class ImportedRecord(BaseModel):
    """The decoded ``backup_url`` of import_record: Cinder's names, unknown keys ignored.

    Only ``id`` and ``size`` are required (as Cinder's API); owner, status, fail_reason and
    the deleted markers are read but never applied (the importer's project owns the row).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: BackupId
    size: NonNegativeInt
    volume_id: Id36 | None = None
    snapshot_id: Id36 | None = None
    parent_id: BackupId | None = None
    display_name: Text255 | None = None
    display_description: Text255 | None = None
    container: Text255 | None = None
    availability_zone: Text255 | None = None
    service: Text255 | None = None
    service_metadata: Text255 | None = None
    encryption_key_id: Id36 | None = None
    object_count: NonNegativeInt = 0
    metadata: dict[Text255, Text255] | None = None
    created_at: datetime | None = None
    data_timestamp: datetime | None = None
    driver_info: dict[str, Any] | None = None

    def data_id(self) -> str:
        """The stored backup this record reads: driver_info's ``data_id``, else the
        backup of its ``manifest_key`` (older exports), else the record's own id.

        Raises InvalidRequest when driver_info names a location that is no backup id.
        """
        info = self.driver_info or {}
        try:
            if isinstance(info.get("data_id"), str):
                return validate_backup_id(_backup_id(info["data_id"]))
            if isinstance(info.get("manifest_key"), str):
                return backup_id_of(info["manifest_key"])
        except (InvalidKey, ValueError):
            raise InvalidRequest(
                "Invalid backup record: driver_info does not name a stored backup."
            ) from None
        return self.id


def is_safehold_service(service: str) -> bool:
    """True iff ``service`` names a backup service whose records this service imports."""
    return service.startswith(SERVICE_PREFIXES)


def public_store_url(url: str) -> str:
    """``url`` without user info, query or fragment: nothing that may carry credentials."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def parent_chain(*, session: Session, backup: Backup) -> list[str]:
    """Ids from the backup's parent up to the root of its chain (nearest first)."""
    chain: list[str] = []
    parent_id = backup.parent_id
    while parent_id is not None and len(chain) < _MAX_CHAIN and parent_id not in chain:
        chain.append(parent_id)
        parent = session.get(Backup, parent_id)
        parent_id = parent.parent_id if parent is not None else None
    return chain


def cinder_record(backup: Backup, *, driver_info: Mapping[str, Any]) -> dict[str, Any]:
    """The backup row as Cinder's backup object fields, plus ``driver_info``."""
    return {
        "id": backup.id,
        "user_id": backup.user_id,
        "project_id": backup.project_id,
        "volume_id": backup.volume_id,
        "host": None,  # no backup host: any Safehold runner reading the store can serve it
        "availability_zone": backup.availability_zone,
        "container": backup.container,
        "parent_id": backup.parent_id,
        "status": backup.status,
        "fail_reason": backup.fail_reason,
        "size": backup.size,
        "display_name": backup.name,
        "display_description": backup.description,
        "service_metadata": backup.service_metadata,
        "service": backup.service,
        "object_count": backup.object_count,
        "temp_volume_id": None,
        "temp_snapshot_id": None,
        "num_dependent_backups": backup.num_dependent_backups,
        "snapshot_id": backup.snapshot_id,
        "data_timestamp": _iso(backup.data_timestamp),
        "restore_volume_id": backup.restore_volume_id,
        "metadata": dict(backup.meta),
        "encryption_key_id": backup.encryption_key_id,
        "created_at": _iso(backup.created_at),
        "updated_at": _iso(backup.updated_at),
        "deleted_at": None,
        "deleted": False,
        "driver_info": dict(driver_info),
    }


def encode_record(record: Mapping[str, Any]) -> str:
    """Standard base64 (padded) of the record as compact UTF-8 JSON; deterministic."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_record(backup_url: str) -> ImportedRecord:
    """Decode a ``backup_url``; InvalidRequest unless it is base64 of a JSON object with
    at least a UUID ``id`` and a non-negative integer ``size``, every field well typed."""
    try:
        raw = base64.b64decode(backup_url.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise InvalidRequest("Invalid input: backup_url is not valid base64.") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("Invalid input: backup_url does not hold UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("Invalid input: backup_url must hold a JSON object.")
    try:
        return ImportedRecord.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        raise InvalidRequest(f"Invalid backup record: field '{where}': {first['msg']}.") from None


def export_backup(
    *, session: Session, backup_id: str, project_id: str, store_url: str
) -> tuple[str, str]:
    """(backup_service, backup_url) of an available backup; read-only.

    Raises RecordNotFound (missing or another project's) and InvalidStatus (not available).
    """
    backup = get_backup(session=session, backup_id=backup_id, project_id=project_id)
    if backup.status != BackupStatus.AVAILABLE:
        raise InvalidStatus(
            f"Invalid backup: Backup status must be available and not {backup.status}."
        )
    driver_info = {
        "store_url": public_store_url(store_url),
        "data_id": backup.data_id,
        "manifest_key": manifest_key(backup.data_id),
        "format_version": MANIFEST_VERSION,
        "stored_bytes": backup.stored_bytes,
        "parent_chain": parent_chain(session=session, backup=backup),
    }
    return backup.service, encode_record(cinder_record(backup, driver_info=driver_info))
