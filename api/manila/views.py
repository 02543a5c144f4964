"""Manila bodies: share detail/summary, export locations, share backup detail/summary.

Fields follow Manila's view builders at the request's microversion (a field appears from
the version that introduced it); admin-only fields (`host`, `share_server_id`, the
directory path behind export locations, a backup's `host`/`topic`) are shown to admins only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Final

from api.microversion import APIVersion
from api.views.common import ViewContext, isotime
from storage.catalog import Share, ShareBackup, ShareStatus

COLLECTION: Final = "shares"
# The one share type Safehold offers: a directory tree (driver_handles_share_servers False).
SHARE_TYPE_NAME: Final = "default"
SHARE_TYPE_ID: Final = "2f8c6f5e-6a0e-4c4b-9d0a-5a1e0d7c3b11"
SHARE_HOST: Final = "safehold@tree#default"
_NAMESPACE: Final = uuid.UUID("8d3c1c52-0f4e-4d8e-9a57-3c2e8f1b6a90")
_SETTING_UP: Final = frozenset({ShareStatus.CREATING, ShareStatus.MANAGE_STARTING})


def share_type_of(share: Share) -> tuple[str, str]:
    """(id, name) of the share's type."""
    return SHARE_TYPE_ID, share.share_type or SHARE_TYPE_NAME


def share_summary(share: Share, view: ViewContext) -> dict[str, Any]:
    """Manila's summary: id, name, links."""
    return {"id": share.id, "name": share.name, "links": view.links(COLLECTION, share.id)}


def share_detail(share: Share, view: ViewContext) -> dict[str, Any]:
    """Manila's detail view of a share at `view.version`."""
    type_id, type_name = share_type_of(share)
    body: dict[str, Any] = {
        "id": share.id,
        "size": share.size,
        "availability_zone": share.availability_zone,
        "created_at": isotime(share.created_at),
        "status": share.status,
        "name": share.name,
        "description": share.description,
        "project_id": share.project_id,
        "snapshot_id": None,
        "share_network_id": None,
        "share_proto": share.share_proto,
        "export_location": share.path if view.is_admin else None,
        "metadata": dict(share.meta),
        "share_type": type_name,
        "volume_type": type_name,
        "links": view.links(COLLECTION, share.id),
        "is_public": share.is_public,
        "export_locations": [share.path] if view.is_admin else [],
    }
    for since, modify in _MODIFIERS:
        if view.version >= since:
            modify(body, share, type_id)
    if view.is_admin:
        body["share_server_id"] = None
        body["host"] = SHARE_HOST
    return body


def _progress(share: Share) -> str:
    return "0%" if share.status in _SETTING_UP else "100%"


def _set(**fields: Any) -> Callable[[dict[str, Any], Share, str], None]:
    def modify(body: dict[str, Any], share: Share, type_id: str) -> None:
        body.update(fields)

    return modify


def _share_type(body: dict[str, Any], share: Share, type_id: str) -> None:
    body["share_type_name"], body["share_type"] = body["share_type"], type_id


def _no_export_locations(body: dict[str, Any], share: Share, type_id: str) -> None:
    body.pop("export_location")
    body.pop("export_locations")


def _user(body: dict[str, Any], share: Share, type_id: str) -> None:
    body["user_id"] = share.user_id


def _with_progress(body: dict[str, Any], share: Share, type_id: str) -> None:
    body["progress"] = _progress(share)


# Manila's _detail_version_modifiers, in order: (first microversion, change).
_MODIFIERS: Final[tuple[tuple[APIVersion, Callable[[dict[str, Any], Share, str], None]], ...]] = (
    (APIVersion(2, 2), _set(snapshot_support=False)),
    (APIVersion(2, 5), _set(task_state=None)),
    (APIVersion(2, 6), _share_type),
    (APIVersion(2, 9), _no_export_locations),
    (APIVersion(2, 10), _set(access_rules_status="active")),
    (APIVersion(2, 11), _set(replication_type=None, has_replicas=False)),
    (APIVersion(2, 16), _user),
    (APIVersion(2, 24), _set(create_share_from_snapshot_support=False)),
    (APIVersion(2, 27), _set(revert_to_snapshot_support=False)),
    (APIVersion(2, 31), _set(share_group_id=None, source_share_group_snapshot_member_id=None)),
    (APIVersion(2, 32), _set(mount_snapshot_support=False)),
    (APIVersion(2, 54), _with_progress),
    (APIVersion(2, 69), _set(is_soft_deleted=False, scheduled_to_be_deleted_at=None)),
    (APIVersion(2, 80), _set(source_backup_id=None)),
    (APIVersion(2, 90), _set(encryption_key_ref=None)),
)


def export_location_id(share: Share) -> str:
    """A stable id for the share's one export location."""
    return str(uuid.uuid5(_NAMESPACE, f"export:{share.id}"))


def export_locations(share: Share, view: ViewContext) -> list[dict[str, Any]]:
    """The share's export locations (one: its directory), as Manila lists them."""
    location: dict[str, Any] = {"id": export_location_id(share), "path": share.path}
    if view.version >= (2, 14):
        location["preferred"] = True
    if view.version >= (2, 87):
        location["metadata"] = {}
    if view.is_admin:
        location["share_instance_id"] = share.id
        location["is_admin_only"] = False
    return [location]


def backup_summary(backup: ShareBackup) -> dict[str, Any]:
    """Manila's share backup summary: id, name, share_id, status."""
    return {
        "id": backup.id,
        "name": backup.name,
        "share_id": backup.share_id,
        "status": backup.status,
    }


def backup_detail(backup: ShareBackup, view: ViewContext) -> dict[str, Any]:
    """Manila's share backup detail (FIELDS.md 11.1): host/topic for admins, backup_type
    from 2.85."""
    body: dict[str, Any] = {
        **backup_summary(backup),
        "description": backup.description,
        "size": backup.size,
        "created_at": isotime(backup.created_at),
        "updated_at": isotime(backup.updated_at),
        "availability_zone": backup.availability_zone,
        "progress": backup.progress,
        "restore_progress": backup.restore_progress,
    }
    if view.version >= (2, 85):
        body["backup_type"] = backup.backup_type
    if view.is_admin:
        body["host"] = backup.host
        body["topic"] = backup.topic
    return body
