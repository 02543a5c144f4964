"""Cinder v3 volume bodies, per microversion and role (FIELDS.md 9, Cinder's view builder).

Safehold volumes are plain files: never attached, encrypted, replicated or typed, so
those fields carry Cinder's "nothing here" values.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from api.cinder.views.attachments import attachment_view
from api.views.common import ViewContext, isotime
from storage.catalog import Volume, VolumeAttachment

COLLECTION = "volumes"
VOLUME_TYPE: Final = "__DEFAULT__"
# Tempest wants a UUID here from 3.63; derived so that it never changes.
VOLUME_TYPE_ID: Final = str(uuid.uuid5(uuid.NAMESPACE_URL, "safehold:volume-type:__DEFAULT__"))
# Render-time only: where an admin finds (and may write) the volume's bytes.
PATH_KEY: Final = "safehold:path"
# Cinder shows its internal manage statuses to users under their classic names.
_SHOWN_STATUS: Final[Mapping[str, str]] = {"managing": "creating", "error_managing": "error"}


def volume_summary(volume: Volume, view: ViewContext) -> dict[str, Any]:
    """`{"id", "links", "name"}`: the plain list."""
    return {"id": volume.id, "links": view.links(COLLECTION, volume.id), "name": volume.name}


def volume_detail(
    volume: Volume,
    view: ViewContext,
    *,
    extended: bool,
    attachments: Sequence[VolumeAttachment] = (),
) -> dict[str, Any]:
    """The full body; `extended` adds the admin os-vol-* attributes (show, list detail)."""
    metadata = dict(volume.meta)
    if view.is_admin:
        metadata[PATH_KEY] = os.path.abspath(volume.path)
    body: dict[str, Any] = {
        "attachments": [attachment_view(a, view) for a in attachments],
        "availability_zone": volume.availability_zone,
        "bootable": "false",
        "consistencygroup_id": None,
        "created_at": isotime(volume.created_at),
        "description": volume.description,
        "encrypted": False,
        "id": volume.id,
        "links": view.links(COLLECTION, volume.id),
        "metadata": metadata,
        "multiattach": False,
        "name": volume.name,
        "replication_status": None,
        "size": volume.size,
        "snapshot_id": None,
        "source_volid": None,
        "status": _SHOWN_STATUS.get(volume.status, volume.status),
        "updated_at": isotime(volume.updated_at),
        "user_id": volume.user_id,
        "volume_type": VOLUME_TYPE,
    }
    if view.is_admin:
        body["migration_status"] = None
        if extended:
            body.update(_admin_attributes(volume))
    body.update(_versioned_fields(view))
    return body


def _admin_attributes(volume: Volume) -> dict[str, Any]:
    return {
        "os-vol-host-attr:host": None,
        "os-vol-mig-status-attr:migstat": None,
        "os-vol-mig-status-attr:name_id": None,
        "os-vol-tenant-attr:tenant_id": volume.project_id,
    }


def _versioned_fields(view: ViewContext) -> dict[str, Any]:
    mv, admin = view.version, view.is_admin
    fields: dict[str, Any] = {}
    if mv >= (3, 13):
        fields["group_id"] = None
    if admin and mv >= (3, 21):
        fields["provider_id"] = None
    if mv >= (3, 48):
        fields["service_uuid"] = None
        fields["shared_targets"] = False  # no storage target at all, so nothing shared
    if admin and mv >= (3, 61):
        fields["cluster_name"] = None
    if mv >= (3, 63):
        fields["volume_type_id"] = VOLUME_TYPE_ID
    if mv >= (3, 65):
        fields["consumes_quota"] = True
    return fields
