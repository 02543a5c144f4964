"""Cinder's os-attach / os-detach volume actions.

Safehold serves no hypervisor: attaching records who uses the volume and makes it
in-use, which is what backups (force, temporary snapshot) and deletes look at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlmodel import Session

from api.auth import Context, visible_project
from api.cinder.schemas import parse_value
from api.cinder.snapshot_schemas import AttachSpec, DetachSpec
from api.faults import Fault
from storage import catalog

logger = logging.getLogger(__name__)


def attach(*, session: Session, context: Context, volume_id: str, value: Any) -> None:
    """available -> in-use; 400 without a target or for a volume that is not available."""
    spec = parse_value(AttachSpec, value, "os-attach")
    if spec.instance_uuid is None and spec.host_name is None:
        raise Fault(400, "Invalid request to attach volume to an invalid target")
    attachment = catalog.attach_volume(
        session=session,
        volume_id=volume_id,
        project_id=visible_project(context),
        mountpoint=spec.mountpoint,
        instance_uuid=spec.instance_uuid,
        host_name=spec.host_name,
        mode=spec.mode,
    )
    logger.info(
        "volume %s: attached to %s at %s (attachment %s)",
        volume_id,
        spec.instance_uuid or spec.host_name,
        spec.mountpoint,
        attachment.id,
    )


def detach(*, session: Session, context: Context, volume_id: str, value: Any) -> None:
    """in-use -> available; 400 unless in-use, 404 for an unknown attachment id."""
    spec = parse_value(DetachSpec, value or {}, "os-detach")
    catalog.detach_volume(
        session=session,
        volume_id=volume_id,
        project_id=visible_project(context),
        attachment_id=spec.attachment_id,
    )
    logger.info("volume %s: detached", volume_id)


ACTIONS: Final[Mapping[str, Callable[..., None]]] = {"os-attach": attach, "os-detach": detach}
