"""Trove response bodies: instances, datastores and backups as python-troveclient reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from storage.catalog import DbBackup, DbInstance
from storage.catalog.db_backups import RESTORABLE

GIB: Final = 1024**3
FLAVOR: Final = "safehold"
# Datastore and version ids are names here; stable ids are derived from them.
_IDS: Final = uuid.UUID("5afe401d-7c0e-4b2a-9d1e-000000000008")


def datastore_id(kind: str) -> str:
    """The stable id of a datastore type."""
    return str(uuid.uuid5(_IDS, kind))


def version_id(kind: str, version: str) -> str:
    """The stable id of one datastore version."""
    return str(uuid.uuid5(_IDS, f"{kind}/{version}"))


def timestamp(when: datetime | None) -> str | None:
    """Trove's format: naive UTC, seconds."""
    return when.replace(tzinfo=None).isoformat(timespec="seconds") if when else None


def _links(base: str, project: str, collection: str, record_id: str) -> list[dict[str, str]]:
    return [
        {"href": f"{base}/v1.0/{project}/{collection}/{record_id}", "rel": "self"},
        {"href": f"{base}/{collection}/{record_id}", "rel": "bookmark"},
    ]


def instance_view(
    instance: DbInstance, base: str, endpoint: tuple[str, int | None] | None
) -> dict[str, Any]:
    """`instance` body: status, datastore, volume (size, used GB), hostname/ip, links."""
    body: dict[str, Any] = {
        "id": instance.id,
        "name": instance.name,
        "status": instance.status,
        "flavor": {"id": FLAVOR, "links": []},
        "datastore": {"type": instance.datastore, "version": instance.datastore_version},
        "volume": {"size": instance.volume_size, "used": instance.used_bytes / GIB},
        "created": timestamp(instance.created_at),
        "updated": timestamp(instance.updated_at or instance.created_at),
        "links": _links(base, instance.project_id, "instances", instance.id),
        "region": "RegionOne",
        "tenant_id": instance.project_id,
    }
    if endpoint is not None:
        host, port = endpoint
        body["hostname"] = host
        body["ip"] = [host]
        if port is not None:
            body["port"] = port
    if instance.fail_reason:
        body["fault"] = {"message": instance.fail_reason, "created": body["updated"]}
    return body


def backup_view(backup: DbBackup, location: str | None) -> dict[str, Any]:
    """`backup` body (FIELDS.md 10.1): size in GB as a float, null until saved."""
    saved = backup.status in RESTORABLE
    return {
        "id": backup.id,
        "name": backup.name,
        "description": backup.description,
        "locationRef": location if saved else None,
        "instance_id": backup.instance_id,
        "created": timestamp(backup.created_at),
        "updated": timestamp(backup.updated_at or backup.created_at),
        "size": backup.size_bytes / GIB if saved else None,
        "status": backup.status,
        "parent_id": backup.parent_id,
        "project_id": backup.project_id,
        "datastore": {
            "type": backup.datastore,
            "version": backup.datastore_version,
            "version_id": version_id(backup.datastore, backup.datastore_version),
        },
        "storage_driver": "safehold",
        "fail_reason": backup.fail_reason,
    }
