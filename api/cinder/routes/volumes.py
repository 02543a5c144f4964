"""Cinder v3 volumes: the subset the backup flows and the clients need (FIELDS.md 9).

Volumes are files: created empty by the create-volume flow, or registered where they
already are through Cinder's manage-existing call (admin only).
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Request, Response
from sqlmodel import Session

from api.actions import no_such_action, one_action
from api.auth import Context, list_project, require_admin, visible_project
from api.cinder.schemas import (
    ManageBody,
    ManageVolume,
    ResetStatus,
    VolumeCreate,
    VolumeCreateBody,
    parse_value,
    reject_unless,
)
from api.cinder.views.volumes import VOLUME_TYPE, VOLUME_TYPE_ID, volume_detail, volume_summary
from api.cinder.volume_attachments import ACTIONS as ATTACHMENT_ACTIONS
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, ViewDep
from api.faults import Fault
from api.follow import settle, settled, visible_row
from api.listing import parse_bool
from api.microversion import APIVersion
from api.runs import launch
from storage import catalog
from storage.catalog import Volume, VolumeStatus
from storage.errors import InvalidRequest
from storage.settings import Settings
from storage.sources.confine import confined_source

logger = logging.getLogger(__name__)

# Mounted under /v3 and /v2 by api.cinder.trees.include_cinder.
router = APIRouter(prefix="/{project_id}", tags=["volumes"])

RESERVED_PREFIX: Final = "safehold:"
# Creation sources Cinder offers that a file-backed volume service cannot honour.
_UNSUPPORTED_SOURCES: Final = (
    "snapshot_id",
    "source_volid",
    "backup_id",
    "imageRef",
    "image_id",
    "consistencygroup_id",
    "group_id",
)


def _check_create(spec: VolumeCreate, version: APIVersion) -> None:
    extra = sorted(spec.model_extra or {})
    if extra and version >= (3, 53):  # Cinder stops tolerating unknown keys at 3.53
        raise Fault(
            400,
            "Invalid input for field/attribute volume. "
            f"Additional properties are not allowed ('{extra[0]}' was unexpected)",
        )
    for name in _UNSUPPORTED_SOURCES:
        if getattr(spec, name) is not None:
            raise Fault(400, f"Invalid input received: {name} is not supported by Safehold.")
    if spec.multiattach:
        raise Fault(400, "Invalid input received: multiattach volumes are not supported.")
    _check_type_and_metadata(spec.volume_type, spec.metadata)


def _check_type_and_metadata(volume_type: str | None, metadata: dict[str, str] | None) -> None:
    if volume_type not in (None, VOLUME_TYPE, VOLUME_TYPE_ID):
        raise Fault(404, f"Volume type with name {volume_type} could not be found.")
    # safehold:path is rendered from the row; a stored key must never impersonate it.
    for key in metadata or {}:
        if key.startswith(RESERVED_PREFIX):
            raise Fault(400, f"Invalid metadata key '{key}': the prefix is reserved.")


@router.post("/volumes", status_code=202)
def create_volume(
    body: VolumeCreateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """202 `{"volume": ...}` in creating; the create-volume flow makes the file."""
    spec = body.volume
    _check_create(spec, view.version)
    volume = catalog.create_volume(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        size_gb=spec.size,
        name=spec.name if spec.name is not None else spec.display_name,
        description=(
            spec.description if spec.description is not None else spec.display_description
        ),
        metadata=spec.metadata,
        availability_zone=spec.availability_zone,
        volumes_dir=settings.volumes_dir,
    )
    logger.info("volume %s: creating, %s GiB", volume.id, volume.size)
    launch(session=session, runs=runs, operation="create_volume", record=volume)
    return {"volume": volume_detail(volume, view, extended=False)}


def _listed(request: Request, context: Context, session: Session) -> list[Volume]:
    all_tenants = parse_bool("all_tenants", request.query_params.get("all_tenants", "false"))
    return catalog.list_volumes(session=session, project_id=list_project(context, all_tenants))


@router.get("/volumes")
def list_volumes(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep
) -> dict[str, Any]:
    """`{"volumes": [summary]}` of the project (every project for admin all_tenants)."""
    return {"volumes": [volume_summary(v, view) for v in _listed(request, context, session)]}


@router.get("/volumes/detail")
def list_volumes_detail(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"volumes": [detail]}`; statuses follow their flow runs."""
    volumes = _listed(request, context, session)
    settle(session=session, runs=runs, rows=volumes)
    found = catalog.attachments_of(session=session, volume_ids=[v.id for v in volumes])
    return {
        "volumes": [
            volume_detail(v, view, extended=True, attachments=found.get(v.id, ())) for v in volumes
        ]
    }


@router.get("/volumes/{volume_id}")
def show_volume(
    volume_id: str, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"volume": detail}`; 404 for a volume of another project."""
    volume = visible_row(Volume, volume_id, context=context, session=session, runs=runs)
    found = catalog.attachments_of(session=session, volume_ids=[volume.id])
    return {
        "volume": volume_detail(volume, view, extended=True, attachments=found.get(volume.id, ()))
    }


@router.delete("/volumes/{volume_id}", status_code=202, response_class=Response)
def delete_volume(
    volume_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202, empty; 400 unless the volume is available or in an error status."""
    project = visible_project(context)
    settled(session=session, runs=runs, model=Volume, record_id=volume_id, project_id=project)
    volume = catalog.begin_volume_delete(session=session, volume_id=volume_id, project_id=project)
    logger.info("volume %s: deleting", volume.id)
    launch(session=session, runs=runs, operation="delete_volume", record=volume)
    return Response(status_code=202)


@router.post("/volumes/{volume_id}/action", status_code=202, response_class=Response)
def volume_action(
    volume_id: str,
    body: Annotated[dict[str, Any], Body()],
    context: ContextDep,
    session: SessionDep,
) -> Response:
    """Volume actions: `os-attach`, `os-detach` and `os-reset_status` (admin), 202."""
    action, value = one_action(body)
    if action in ATTACHMENT_ACTIONS:
        ATTACHMENT_ACTIONS[action](
            session=session, context=context, volume_id=volume_id, value=value
        )
        return Response(status_code=202)
    if action != "os-reset_status":
        raise no_such_action(action)
    require_admin(context, "volume_extension:volume_admin_actions:reset_status")
    spec = parse_value(ResetStatus, value, action)
    catalog.get_volume(session=session, volume_id=volume_id)
    if spec.status is None and spec.attach_status is None and spec.migration_status is None:
        raise Fault(400, "Must specify 'status', 'attach_status' or 'migration_status' for update.")
    # Migration states do not exist for file volumes: accepted, nothing to set.
    if spec.attach_status == "detached":
        catalog.clear_attachments(session=session, volume_id=volume_id)
    if spec.status is not None:
        catalog.reset_volume_status(session=session, volume_id=volume_id, status=spec.status)
        logger.warning(
            "volume %s: status reset to %s by %s", volume_id, spec.status, context.user_id
        )
    return Response(status_code=202)


def _source_path(spec: ManageVolume, settings: Settings) -> str:
    """The resolved file or device `source-name` names; 400 unless under a managed root."""
    ref = spec.ref if isinstance(spec.ref, dict) else {"source-name": spec.ref}
    path = ref.get("source-name")
    if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
        raise Fault(
            400,
            "Manage existing volume failed due to invalid backend reference: "
            "ref must name an absolute file or device path as 'source-name'.",
        )
    try:
        return str(confined_source(path, settings.manage_root_paths()))
    except InvalidRequest as exc:
        raise Fault(400, f"Invalid input: manage-existing source-name {exc}") from None


def _manage_admin(context: ContextDep) -> Context:
    # A dependency, so that non-admins get 403 before their body is even looked at.
    require_admin(context, "volume_extension:volume_manage")
    return context


@router.post("/manageable_volumes", status_code=202)
@router.post("/os-volume-manage", status_code=202, include_in_schema=False)
def manage_volume(
    body: ManageBody,
    context: Annotated[Context, Depends(_manage_admin)],
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Register an existing file or device (admin); size 0 until the flow measures it."""
    spec = body.volume
    reject_unless(spec, "volume", view.version, {"cluster": (3, 16)})
    if spec.host is None and spec.cluster is None:
        raise Fault(400, "Invalid input received: host or cluster must be given.")
    if spec.bootable:
        raise Fault(400, "Invalid input received: bootable volumes are not supported.")
    _check_type_and_metadata(spec.volume_type, spec.metadata)
    path = _source_path(spec, settings)
    volume = catalog.create_volume(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        size_gb=0,
        name=spec.name,
        description=spec.description,
        metadata=spec.metadata,
        availability_zone=spec.availability_zone,
        path=path,
        managed=True,
        status=VolumeStatus.MANAGING,
    )
    logger.info("volume %s: managing %s", volume.id, volume.path)
    launch(session=session, runs=runs, operation="manage_volume", record=volume)
    return {"volume": volume_detail(volume, view, extended=False)}
