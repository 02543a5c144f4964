"""Cinder snapshots: create, list, show, update, delete, metadata, admin actions (FIELDS.md 5).

Mounted under /v3 and /v2 by api.cinder.trees.include_cinder: v2 is these handlers at 3.0.
A snapshot is a point-in-time copy of a volume's file, made by the create-snapshot flow.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Request, Response
from sqlmodel import Session

from api.actions import no_such_action, one_action
from api.auth import Context, require_admin, visible_project
from api.cinder.schemas import parse_value
from api.cinder.snapshot_listing import snapshot_page
from api.cinder.snapshot_schemas import (
    MetaBody,
    MetadataBody,
    SnapshotCreateBody,
    SnapshotResetStatus,
    SnapshotStatusUpdate,
    SnapshotUpdateBody,
)
from api.cinder.views.snapshots import snapshot_detail, snapshot_summary
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, ViewDep
from api.faults import Fault
from api.follow import run_is_live, settle, settled, visible_row
from api.microversion import APIVersion
from api.runs import Runs, launch
from storage import catalog
from storage.catalog import Snapshot
from storage.catalog.lifecycle import SNAPSHOT_TRANSITIONAL

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/{project_id}/snapshots", tags=["snapshots"])

SNAPSHOT_IN_USE: Final = APIVersion(3, 66)
# Cinder's words (cinder/api/v3/snapshots.py), typo included.
SNAPSHOT_IN_USE_FLAG_MSG: Final = (
    f"Since microversion {SNAPSHOT_IN_USE} the 'force' flag is invalid for this request.  "
    "For backward compatability, however, when the 'force' flag is passed with a value "
    "evaluating to True, it is silently ignored."
)


def _force(force: bool | None, version: APIVersion) -> bool:
    """Cinder's force flag: needed for in-use volumes below 3.66, then implied; from
    3.66 force=false is a 400 and force=true is ignored."""
    if version < SNAPSHOT_IN_USE:
        return bool(force)
    if force is False:
        raise Fault(400, SNAPSHOT_IN_USE_FLAG_MSG)
    return True


@router.post("", status_code=202)
def create_snapshot(
    body: SnapshotCreateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """202 `{"snapshot": ...}` in creating; create-snapshot copies the volume's file."""
    spec = body.snapshot
    snapshot = catalog.begin_snapshot(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        volume_id=spec.volume_id,
        snapshots_dir=settings.snapshots_dir,
        name=spec.name if spec.name is not None else spec.display_name,
        description=(
            spec.description if spec.description is not None else spec.display_description
        ),
        metadata=spec.metadata,
        force=_force(spec.force, view.version),
    )
    logger.info("snapshot %s of volume %s: creating", snapshot.id, snapshot.volume_id)
    launch(session=session, runs=runs, operation="create_snapshot", record=snapshot)
    return {"snapshot": snapshot_detail(snapshot, view, extended=False)}


@router.get("")
def list_snapshots(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep
) -> dict[str, Any]:
    """`{"snapshots": [summary]}` (+ snapshots_links when the page is full, + count)."""
    page = snapshot_page(request, context, view.version, session)
    items = [snapshot_summary(s) for s in page.rows]
    return page.body(request.url, "snapshots", items, view.version)


@router.get("/detail")
def list_snapshots_detail(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"snapshots": [detail]}`; statuses follow their flow runs."""
    page = snapshot_page(request, context, view.version, session)
    settle(session=session, runs=runs, rows=page.rows)
    items = [snapshot_detail(s, view, extended=True) for s in page.rows]
    return page.body(request.url, "snapshots", items, view.version)


def _get(session: Session, context: Context, snapshot_id: str) -> Snapshot:
    return catalog.get_snapshot(
        session=session, snapshot_id=snapshot_id, project_id=visible_project(context)
    )


@router.get("/{snapshot_id}")
def show_snapshot(
    snapshot_id: str, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"snapshot": detail}`; 404 for a snapshot of another project."""
    snapshot = visible_row(Snapshot, snapshot_id, context=context, session=session, runs=runs)
    return {"snapshot": snapshot_detail(snapshot, view, extended=True)}


@router.put("/{snapshot_id}")
def update_snapshot(
    snapshot_id: str,
    body: SnapshotUpdateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
) -> dict[str, Any]:
    """200 `{"snapshot": ...}` with the new name/description; 400 when neither is given."""
    spec = body.snapshot
    sent = spec.model_fields_set
    if not sent:
        raise Fault(
            400,
            "Invalid input for field/attribute snapshot. At least one of name, description, "
            "display_name or display_description is required.",
        )
    changes: dict[str, str | None] = {}
    if sent & {"name", "display_name"}:
        changes["name"] = spec.name if "name" in sent else spec.display_name
    if sent & {"description", "display_description"}:
        changes["description"] = (
            spec.description if "description" in sent else spec.display_description
        )
    snapshot = catalog.update_snapshot(
        session=session,
        snapshot_id=snapshot_id,
        project_id=visible_project(context),
        changes=changes,
    )
    return {"snapshot": snapshot_detail(snapshot, view, extended=False)}


def _begin_delete(
    session: Session, runs: Runs, context: Context, snapshot_id: str, *, force: bool
) -> None:
    project = visible_project(context)
    # A crashed run must not keep the snapshot "creating" forever: settle before guarding.
    settled(session=session, runs=runs, model=Snapshot, record_id=snapshot_id, project_id=project)
    snapshot = catalog.begin_snapshot_delete(
        session=session, snapshot_id=snapshot_id, project_id=project, force=force
    )
    logger.info("snapshot %s: deleting%s", snapshot.id, " (forced)" if force else "")
    launch(session=session, runs=runs, operation="delete_snapshot", record=snapshot)


@router.delete("/{snapshot_id}", status_code=202, response_class=Response)
def delete_snapshot(
    snapshot_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202, empty; 400 unless available or error."""
    _begin_delete(session, runs, context, snapshot_id, force=False)
    return Response(status_code=202)


@router.post("/{snapshot_id}/action", status_code=202, response_class=Response)
def snapshot_action(
    snapshot_id: str,
    body: Annotated[dict[str, Any], Body()],
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
) -> Response:
    """Admin actions `os-reset_status` and `os-force_delete`, and the owner's
    `os-update_snapshot_status`; 202 and empty."""
    action, value = one_action(body)
    if action == "os-update_snapshot_status":
        _update_status(session, runs, context, snapshot_id, value)
    elif action == "os-reset_status":
        require_admin(context, "volume_extension:snapshot_admin_actions:reset_status")
        spec = parse_value(SnapshotResetStatus, value, action)
        catalog.reset_snapshot_status(session=session, snapshot_id=snapshot_id, status=spec.status)
        logger.warning(
            "snapshot %s: status reset to %s by %s", snapshot_id, spec.status, context.user_id
        )
    elif action == "os-force_delete":
        require_admin(context, "volume_extension:snapshot_admin_actions:force_delete")
        _begin_delete(session, runs, context, snapshot_id, force=True)
    else:
        raise no_such_action(action)
    return Response(status_code=202)


def _update_status(
    session: Session, runs: Runs, context: Context, snapshot_id: str, value: Any
) -> None:
    """Cinder's table (creating -> creating/available/error, deleting ->
    deleting/error_deleting), owner or admin; a live run of its own keeps the status."""
    spec = parse_value(SnapshotStatusUpdate, value, "os-update_snapshot_status")
    project = visible_project(context)
    snapshot = settled(
        session=session, runs=runs, model=Snapshot, record_id=snapshot_id, project_id=project
    )
    live = snapshot.status in SNAPSHOT_TRANSITIONAL and run_is_live(
        runs=runs, run_id=snapshot.flow_run_id
    )
    updated = catalog.update_snapshot_status(
        session=session,
        snapshot_id=snapshot_id,
        project_id=project,
        status=spec.status,
        progress=spec.progress,
        run_live=live,
    )
    logger.info(
        "snapshot %s: %s (%s) reported by %s",
        updated.id,
        updated.status,
        updated.progress,
        context.user_id,
    )


# -- metadata ---------------------------------------------------------------------------


@router.get("/{snapshot_id}/metadata")
def show_metadata(snapshot_id: str, context: ContextDep, session: SessionDep) -> dict[str, Any]:
    """`{"metadata": {...}}`."""
    return {"metadata": dict(_get(session, context, snapshot_id).meta)}


def _set_metadata(
    session: Session, context: Context, snapshot_id: str, body: MetadataBody, *, replace: bool
) -> dict[str, Any]:
    metadata = catalog.set_snapshot_metadata(
        session=session,
        snapshot_id=snapshot_id,
        project_id=visible_project(context),
        metadata=body.metadata,
        replace=replace,
    )
    return {"metadata": metadata}


@router.post("/{snapshot_id}/metadata")
def merge_metadata(
    snapshot_id: str, body: MetadataBody, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """Create or update the given keys, keep the others; `{"metadata": <all of it>}`."""
    return _set_metadata(session, context, snapshot_id, body, replace=False)


@router.put("/{snapshot_id}/metadata")
def replace_metadata(
    snapshot_id: str, body: MetadataBody, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """Replace the whole metadata; `{"metadata": <the new dict>}`."""
    return _set_metadata(session, context, snapshot_id, body, replace=True)


@router.get("/{snapshot_id}/metadata/{key}")
def show_metadata_key(
    snapshot_id: str, key: str, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """`{"meta": {key: value}}`; 404 when the key is absent."""
    metadata = _get(session, context, snapshot_id).meta
    if key not in metadata:
        raise Fault(404, "Metadata item was not found.")
    return {"meta": {key: metadata[key]}}


@router.put("/{snapshot_id}/metadata/{key}")
def update_metadata_key(
    snapshot_id: str, key: str, body: MetaBody, context: ContextDep, session: SessionDep
) -> dict[str, Any]:
    """Set one key; 400 unless the body holds exactly that key."""
    if key not in body.meta:
        raise Fault(400, "Request body and URI mismatch")
    if len(body.meta) > 1:
        raise Fault(400, "Request body contains too many items")
    catalog.set_snapshot_metadata(
        session=session,
        snapshot_id=snapshot_id,
        project_id=visible_project(context),
        metadata=body.meta,
        replace=False,
    )
    return {"meta": dict(body.meta)}


@router.delete("/{snapshot_id}/metadata/{key}", response_class=Response)
def delete_metadata_key(
    snapshot_id: str, key: str, context: ContextDep, session: SessionDep
) -> Response:
    """200, empty; 404 when the snapshot or the key is absent."""
    catalog.delete_snapshot_metadata_key(
        session=session, snapshot_id=snapshot_id, project_id=visible_project(context), key=key
    )
    return Response(status_code=200)
