"""Cinder v3 backup bodies: summary and detail, per microversion and role (FIELDS.md 3.1)."""

from __future__ import annotations

from typing import Any

from api.views.common import ViewContext, isotime
from api.views.reasons import shown_reason
from storage.catalog import Backup

COLLECTION = "backups"


def backup_summary(backup: Backup, view: ViewContext) -> dict[str, Any]:
    """`{"id", "links", "name"}`: create responses and the plain list."""
    return {"id": backup.id, "links": view.links(COLLECTION, backup.id), "name": backup.name}


def backup_detail(backup: Backup, view: ViewContext) -> dict[str, Any]:
    """Show and list-detail body; admin-only and newer fields follow the microversion."""
    body: dict[str, Any] = {
        "availability_zone": backup.availability_zone,
        "container": backup.container,
        "created_at": isotime(backup.created_at),
        "data_timestamp": isotime(backup.data_timestamp),
        "description": backup.description,
        "fail_reason": shown_reason(backup.fail_reason, admin=view.is_admin),
        "has_dependent_backups": backup.has_dependent_backups,
        "id": backup.id,
        "is_incremental": backup.is_incremental,
        "links": view.links(COLLECTION, backup.id),
        "name": backup.name,
        "object_count": backup.object_count,
        "size": backup.size,
        "snapshot_id": backup.snapshot_id,
        "status": backup.status,
        "updated_at": isotime(backup.updated_at),
        "volume_id": backup.volume_id,
    }
    mv = view.version
    # Policy backup:backup_project_attribute (admin) guards both owner fields.
    if view.is_admin and mv >= (3, 18):
        body["os-backup-project-attr:project_id"] = backup.project_id
    if mv >= (3, 43):
        body["metadata"] = dict(backup.meta)
    if view.is_admin and mv >= (3, 56):
        body["user_id"] = backup.user_id
    if mv >= (3, 64) and backup.encryption_key_id:
        body["encryption_key_id"] = backup.encryption_key_id
    return body
