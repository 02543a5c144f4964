"""Admin share calls: manage an existing tree, and the actions unmanage and reset_status.

Manage registers a directory inside the share roots (SAFEHOLD_SHARE_ROOTS) as it is; the
manage-share flow re-checks it. Unmanage forgets the share and keeps its tree.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Request, Response
from sqlmodel import Session

from api.actions import no_such_action, one_action
from api.auth import Context, require_admin
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, ViewDep
from api.faults import Fault
from api.follow import settled
from api.manila.microversion import NOT_FOUND, request_version
from api.manila.routes.shares import check_protocol, check_share_type
from api.manila.schemas import ShareManage, ShareManageBody, StatusValue, parse_value
from api.manila.views import share_detail
from api.runs import Runs, launch
from storage.catalog import Share, ShareStatus, shares
from storage.errors import InvalidRequest
from storage.settings import Settings
from storage.sources.confine import confined_directory

logger = logging.getLogger(__name__)

# Mounted under /v2 with and without the project segment by api.manila.app.
router = APIRouter(prefix="/{project_id}", tags=["shares"])

# A share's own runs; a share held by a backup or restore is that backup's run's.
_OWN_RUN: Final = frozenset(
    {
        ShareStatus.CREATING,
        ShareStatus.MANAGE_STARTING,
        ShareStatus.DELETING,
        ShareStatus.UNMANAGE_STARTING,
    }
)


def _manage_admin(request: Request, context: ContextDep) -> Context:
    # A dependency: the route exists from 2.7, and non-admins get 403 before the body counts.
    if request_version(request) < (2, 7):
        raise Fault(404, NOT_FOUND)
    require_admin(context, "share:manage")
    return context


def _export_path(spec: ShareManage, settings: Settings) -> Path:
    """The resolved directory export_path names; 400 unless inside a share root, 409 when
    it overlaps a share's tree, 400 when it holds the shares directory itself."""
    raw = spec.export_path.get("path") if isinstance(spec.export_path, dict) else spec.export_path
    if not isinstance(raw, str) or not raw:
        raise Fault(400, "Export path must be a string, or a dictionary with a 'path' item")
    try:
        path = confined_directory(raw, settings.share_root_paths())
    except InvalidRequest as exc:
        raise Fault(400, f"Invalid input: manage export_path {exc}") from None
    shares_dir = Path(settings.shares_dir).resolve()
    if shares_dir.is_relative_to(path):
        raise Fault(400, f"Invalid input: {raw} holds the shares directory {shares_dir}.")
    return path


@router.post("/shares/manage")
def manage_share(
    body: ShareManageBody,
    context: Annotated[Context, Depends(_manage_admin)],
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """200 `{"share": detail}` in manage_starting; manage-share re-checks the tree. Size
    is nominal (1 GiB): Manila's manage has none to give."""
    spec = body.share
    protocol = check_protocol(spec.protocol)
    share_type = check_share_type(spec.share_type)
    path = _export_path(spec, settings)
    taken = shares.shares_overlapping(session=session, path=path)
    if taken:
        raise Fault(409, f"Share already exists: {path} overlaps share {taken[0].id}.")
    share = shares.create_share(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        size_gb=1,
        share_proto=protocol,
        path=str(path),
        name=spec.name if spec.name is not None else spec.display_name,
        description=(
            spec.description if spec.description is not None else spec.display_description
        ),
        share_type=share_type,
        is_public=spec.is_public,
    )
    logger.info("share %s: managing %s", share.id, share.path)
    launch(session=session, runs=runs, operation="manage_share", record=share)
    return {"share": share_detail(share, view)}


@router.post("/shares/{share_id}/action", status_code=202, response_class=Response)
def share_action(
    share_id: str,
    body: Annotated[dict[str, Any], Body()],
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
) -> Response:
    """202, empty: `unmanage` (admin; the tree is kept), `reset_status` / `os-reset_status`
    (admin; any Manila share status)."""
    action, value = one_action(body)
    if action == "unmanage":
        require_admin(context, "share:unmanage")
        _unmanage(share_id, session, runs)
    elif action in ("reset_status", "os-reset_status"):
        require_admin(context, "share:reset_status")
        spec = parse_value(StatusValue, value, action)
        _reset_status(share_id, spec.status, context, session, runs)
    else:
        raise no_such_action(action)
    return Response(status_code=202)


def _unmanage(share_id: str, session: Session, runs: Runs) -> None:
    settled(session=session, runs=runs, model=Share, record_id=share_id, project_id=None)
    share = shares.begin_share_delete(
        session=session, share_id=share_id, project_id=None, unmanage=True
    )
    logger.info("share %s: unmanaging", share.id)
    launch(session=session, runs=runs, operation="delete_share", record=share)


def _reset_status(
    share_id: str, status: str, context: Context, session: Session, runs: Runs
) -> None:
    current = settled(session=session, runs=runs, model=Share, record_id=share_id, project_id=None)
    previous = current.status
    live = current.flow_run_id if previous in _OWN_RUN and previous != status else None
    share = shares.reset_share_status(session=session, share_id=share_id, status=status)
    logger.warning("share %s: status reset to %s by %s", share.id, status, context.user_id)
    # The row is no longer the run's: it stops at its next check; cancelling shows why.
    runs.cancel(live, f"share {share_id}: status reset to {status} by an administrator")
