"""Volume attachments (Cinder os-attach / os-detach): what makes a volume in-use.

Safehold serves no hypervisor; an attachment records who uses the volume, so that
backups of it need `force` (and are taken from a temporary snapshot) and deletes are
refused while it is attached. One attachment per volume: multiattach is not offered.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.catalog.cas import compare_and_set, require
from storage.catalog.models import Volume, VolumeAttachment, VolumeStatus
from storage.catalog.volumes import get_volume
from storage.errors import RecordNotFound

V = VolumeStatus


def attach_volume(
    *,
    session: Session,
    volume_id: str,
    project_id: str | None,
    mountpoint: str,
    instance_uuid: str | None = None,
    host_name: str | None = None,
    mode: str = "rw",
) -> VolumeAttachment:
    """available -> in-use with one attachment row; InvalidStatus unless available."""
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    changed = compare_and_set(session, Volume, volume_id, to=V.IN_USE, expected={V.AVAILABLE})
    require(
        changed,
        f"Invalid volume: Volume {volume_id} status must be available to attach, "
        f"but current status is: {volume.status}.",
    )
    attachment = VolumeAttachment(
        id=str(uuid.uuid4()),
        volume_id=volume_id,
        instance_uuid=instance_uuid,
        attached_host=host_name,
        mountpoint=mountpoint,
        attach_mode=mode,
    )
    session.add(attachment)
    session.commit()
    session.refresh(attachment)
    return attachment


def detach_volume(
    *, session: Session, volume_id: str, project_id: str | None, attachment_id: str | None = None
) -> None:
    """in-use -> available, attachments removed; InvalidStatus unless in-use.

    RecordNotFound when `attachment_id` names no attachment of this volume.
    """
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    found = attachments_of(session=session, volume_ids=[volume_id]).get(volume_id, [])
    if attachment_id is not None and attachment_id not in {a.id for a in found}:
        raise RecordNotFound("Volume attachment", attachment_id)
    changed = compare_and_set(session, Volume, volume_id, to=V.AVAILABLE, expected={V.IN_USE})
    require(
        changed,
        "Invalid volume: Unable to detach volume. Volume status must be 'in-use' "
        f"to detach, but current status is: {volume.status}.",
    )
    session.exec(delete(VolumeAttachment).where(col(VolumeAttachment.volume_id) == volume_id))
    session.commit()


def clear_attachments(*, session: Session, volume_id: str) -> int:
    """Forget every attachment of a volume (admin reset, volume removal); how many."""
    result = session.exec(
        delete(VolumeAttachment).where(col(VolumeAttachment.volume_id) == volume_id)
    )
    session.commit()
    return int(result.rowcount)


def attachments_of(
    *, session: Session, volume_ids: Collection[str]
) -> dict[str, list[VolumeAttachment]]:
    """The attachments of each of the volumes (volumes without any are absent)."""
    if not volume_ids:
        return {}
    stmt = (
        select(VolumeAttachment)
        .where(col(VolumeAttachment.volume_id).in_(list(volume_ids)))
        .order_by(col(VolumeAttachment.attached_at), col(VolumeAttachment.id))
    )
    found: dict[str, list[VolumeAttachment]] = {}
    for attachment in session.exec(stmt):
        found.setdefault(attachment.volume_id, []).append(attachment)
    return found
