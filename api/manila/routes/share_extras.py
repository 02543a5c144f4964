"""A share's export locations (admin: they show a host path) and its metadata."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session

from api.auth import require_admin, visible_project
from api.deps import ContextDep, SessionDep, ViewDep
from api.faults import Fault
from api.manila.microversion import NOT_FOUND, request_version
from api.manila.schemas import MetadataBody
from api.manila.views import export_locations
from storage.catalog import shares

logger = logging.getLogger(__name__)

# Mounted under /v2 with and without the project segment by api.manila.app.
router = APIRouter(prefix="/{project_id}", tags=["shares"])


def _since_2_9(request: Request, context: ContextDep) -> None:
    # The route exists from 2.9 (before, locations were share fields); admins only here.
    if request_version(request) < (2, 9):
        raise Fault(404, NOT_FOUND)
    require_admin(context, "share_export_location:index")


@router.get("/shares/{share_id}/export_locations", dependencies=[Depends(_since_2_9)])
def list_export_locations(share_id: str, view: ViewDep, session: SessionDep) -> dict[str, Any]:
    """`{"export_locations": [{id, path, preferred, is_admin_only, share_instance_id}]}`."""
    share = shares.get_share(session=session, share_id=share_id)
    return {"export_locations": export_locations(share, view)}


@router.get("/shares/{share_id}/export_locations/{location_id}", dependencies=[Depends(_since_2_9)])
def show_export_location(
    share_id: str, location_id: str, view: ViewDep, session: SessionDep
) -> dict[str, Any]:
    """`{"export_location": ...}`; 404 for an id the share does not have."""
    share = shares.get_share(session=session, share_id=share_id)
    for location in export_locations(share, view):
        if location["id"] == location_id:
            return {"export_location": location}
    raise Fault(404, f"Export location {location_id} not found.")


@router.get("/shares/{share_id}/metadata")
def show_metadata(share_id: str, context: ContextDep, session: SessionDep) -> dict[str, Any]:
    """`{"metadata": {...}}`."""
    project = visible_project(context)
    share = shares.get_share(session=session, share_id=share_id, project_id=project)
    return {"metadata": dict(share.meta)}


@router.post("/shares/{share_id}/metadata")
def merge_metadata(
    share_id: str, body: MetadataBody, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """Add or overwrite the given keys; 200 with the whole metadata."""
    project = visible_project(context)
    share = shares.get_share(session=session, share_id=share_id, project_id=project)
    merged = {**share.meta, **body.metadata}
    return _save(share_id, project, merged, session)


@router.put("/shares/{share_id}/metadata")
def replace_metadata(
    share_id: str, body: MetadataBody, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """Replace the whole metadata; 200 with it."""
    return _save(share_id, visible_project(context), dict(body.metadata), session)


@router.get("/shares/{share_id}/metadata/{key}")
def show_metadata_item(
    share_id: str, key: str, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """`{"meta": {key: value}}`; 404 for a key the share does not have."""
    project = visible_project(context)
    share = shares.get_share(session=session, share_id=share_id, project_id=project)
    if key not in share.meta:
        raise Fault(404, f"Metadata item {key} was not found.")
    return {"meta": {key: share.meta[key]}}


@router.delete("/shares/{share_id}/metadata/{key}", response_class=Response)
def delete_metadata_item(
    share_id: str, key: str, context: ContextDep, session: SessionDep
) -> Response:
    """200, empty; 404 for a key the share does not have."""
    project = visible_project(context)
    share = shares.get_share(session=session, share_id=share_id, project_id=project)
    if key not in share.meta:
        raise Fault(404, f"Metadata item {key} was not found.")
    _save(share_id, project, {k: v for k, v in share.meta.items() if k != key}, session)
    return Response(status_code=200)


def _save(
    share_id: str, project: str | None, metadata: dict[str, Any], session: Session
) -> dict[str, Any]:
    share = shares.update_share(
        session=session, share_id=share_id, project_id=project, changes={"metadata": metadata}
    )
    logger.info("share %s: metadata set (%d keys)", share.id, len(metadata))
    return {"metadata": dict(share.meta)}
