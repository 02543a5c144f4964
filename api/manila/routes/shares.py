"""Manila shares: the subset python-manilaclient needs to make shares for backups.

A share is a directory tree: created empty under the shares directory by the
create-share flow, or registered where it is by manage (admin). Routes are plain
functions (run in a worker thread): the catalog session is blocking.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.auth import Context, visible_project
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, ViewDep
from api.faults import Fault
from api.follow import settle, settled, visible_row
from api.manila.listing import fetch_rows, parse_query
from api.manila.schemas import ShareCreate, ShareCreateBody, ShareUpdateBody
from api.manila.views import SHARE_TYPE_ID, SHARE_TYPE_NAME, share_detail, share_summary
from api.runs import launch
from storage.catalog import Share, shares

logger = logging.getLogger(__name__)

# Mounted under /v2 with and without the project segment by api.manila.app.
router = APIRouter(prefix="/{project_id}", tags=["shares"])

PROTOCOLS: Final = ("NFS", "CIFS", "GLUSTERFS", "HDFS", "CEPHFS", "MAPRFS")
_FILTERS: Final = ("name", "status", "share_proto", "availability_zone", "name~", "description~")
_ALIASES: Final = {
    "display_name": "name",
    "display_name~": "name~",
    "display_description~": "description~",
}
# python-manilaclient rewrites sort keys to Manila's column names.
_SORT_ALIASES: Final = {"availability_zone_id": "availability_zone"}


def check_share_type(share_type: str | None) -> str:
    """The share type's name; 404 for any type but Safehold's one (by name or id)."""
    if share_type in (None, SHARE_TYPE_NAME, SHARE_TYPE_ID):
        return SHARE_TYPE_NAME
    raise Fault(404, f"Share type {share_type} not found.")


def check_protocol(protocol: str) -> str:
    """The protocol in capitals; 400 unless Manila knows it."""
    if protocol.upper() not in PROTOCOLS:
        raise Fault(
            400,
            f"Invalid share protocol provided: {protocol}. It is either disabled or "
            f"unsupported. Available protocols: {', '.join(PROTOCOLS)}.",
        )
    return protocol.upper()


def _check_create(spec: ShareCreate) -> None:
    for name in ("snapshot_id", "share_network_id", "share_group_id"):
        if getattr(spec, name) is not None:
            raise Fault(400, f"Invalid input received: {name} is not supported by Safehold.")


@router.post("/shares")
def create_share(
    body: ShareCreateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """200 `{"share": detail}` in creating (Manila answers 200); create-share makes the tree."""
    spec = body.share
    _check_create(spec)
    share = shares.create_share(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        size_gb=spec.size,
        share_proto=check_protocol(spec.share_proto),
        shares_dir=settings.shares_dir,
        name=spec.name if spec.name is not None else spec.display_name,
        description=(
            spec.description if spec.description is not None else spec.display_description
        ),
        metadata=spec.metadata,
        availability_zone=spec.availability_zone,
        share_type=check_share_type(spec.share_type),
        is_public=spec.is_public,
    )
    logger.info("share %s: creating, %s GiB", share.id, share.size)
    launch(session=session, runs=runs, operation="create_share", record=share)
    return {"share": share_detail(share, view)}


def _listed(request: Request, context: Context, session: Session) -> list[Share]:
    query = parse_query(
        request.query_params,
        context,
        filters=_FILTERS,
        admin_filters=("project_id",),
        aliases=_ALIASES,
        sort_aliases=_SORT_ALIASES,
        policy="share:get_all_shares",
    )
    return fetch_rows(shares.list_shares, session, query)


@router.get("/shares")
def list_shares(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep
) -> dict[str, Any]:
    """`{"shares": [summary]}` of the project (every project for an admin's all_tenants)."""
    return {"shares": [share_summary(s, view) for s in _listed(request, context, session)]}


@router.get("/shares/detail")
def list_shares_detail(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"shares": [detail]}`; statuses follow their flow runs."""
    rows = _listed(request, context, session)
    settle(session=session, runs=runs, rows=rows)
    return {"shares": [share_detail(s, view) for s in rows]}


@router.get("/shares/{share_id}")
def show_share(
    share_id: str, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"share": detail}`; 404 for another project's share."""
    share = visible_row(Share, share_id, context=context, session=session, runs=runs)
    return {"share": share_detail(share, view)}


@router.put("/shares/{share_id}")
def update_share(
    share_id: str,
    body: ShareUpdateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
) -> dict[str, Any]:
    """200 `{"share": detail}`: display_name/name, display_description/description,
    is_public, in any status."""
    spec, given = body.share, body.share.model_fields_set
    changes: dict[str, Any] = {}
    for key, wire in (("name", "display_name"), ("description", "display_description")):
        for field in (wire, key):  # Manila's display_* first; the short name wins if both
            if field in given:
                changes[key] = getattr(spec, field)
    if "is_public" in given and spec.is_public is not None:
        changes["is_public"] = spec.is_public
    share = shares.update_share(
        session=session, share_id=share_id, project_id=visible_project(context), changes=changes
    )
    logger.info("share %s: updated %s", share.id, sorted(changes))
    return {"share": share_detail(share, view)}


@router.delete("/shares/{share_id}", status_code=202, response_class=Response)
def delete_share(
    share_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202, empty; 409 while a backup or restore holds it, 400 from other busy statuses.
    Its backups are kept."""
    project = visible_project(context)
    # Settled first: a share held by a run that died is released, not refused as busy.
    settled(session=session, runs=runs, model=Share, record_id=share_id, project_id=project)
    share = shares.begin_share_delete(session=session, share_id=share_id, project_id=project)
    logger.info("share %s: deleting", share.id)
    launch(session=session, runs=runs, operation="delete_share", record=share)
    return Response(status_code=202)
