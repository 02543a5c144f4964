"""A volume's `attachments` entries, in Cinder's shape (tempest's volume schema)."""

from __future__ import annotations

from typing import Any

from api.views.common import ViewContext, isotime
from storage.catalog import VolumeAttachment


def attachment_view(attachment: VolumeAttachment, view: ViewContext) -> dict[str, Any]:
    """One entry of a volume's `attachments`; host_name is shown to admins only (Cinder)."""
    return {
        "attached_at": isotime(attachment.attached_at),
        "attachment_id": attachment.id,
        "device": attachment.mountpoint,
        "host_name": attachment.attached_host if view.is_admin else None,
        "id": attachment.volume_id,
        "server_id": attachment.instance_uuid,
        "volume_id": attachment.volume_id,
    }
