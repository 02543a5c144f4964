"""Manila share backups (FIELDS.md 11, mv 2.80, experimental): create, list, show,
update, delete. Restore and reset_status are in share_backup_actions.

Every route is 404 below 2.80 or without `X-OpenStack-Manila-API-Experimental: True`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Request, Response
from sqlmodel import Session

from api.auth import Context, visible_project
from api.deps import ContextDep, RunsDep, SessionDep, ViewDep
from api.faults import Fault
from api.follow import settle, settled, visible_row
from api.manila.listing import fetch_rows, parse_query
from api.manila.microversion import require_share_backups
from api.manila.schemas import ShareBackupCreate, ShareBackupUpdate, parse_value
from api.manila.views import backup_detail, backup_summary
from api.runs import Runs, launch
from storage.catalog import Share, ShareBackup, share_backups
from storage.errors import RecordNotFound

logger = logging.getLogger(__name__)

# Mounted under /v2 with and without the project segment by api.manila.app.
router = APIRouter(
    prefix="/{project_id}/share-backups",
    tags=["share backups"],
    dependencies=[Depends(require_share_backups)],
)

_FILTERS: Final = ("share_id", "name", "description", "name~", "description~", "status", "topic")
_ALIASES: Final = {
    "display_name": "name",
    "display_description": "description",
    "display_name~": "name~",
    "display_description~": "description~",
}
LIST_ALL_POLICY: Final = "share_backup:get_all_project"


def member(body: Any, key: str) -> dict[str, Any]:
    """`body[key]` as an object; 422 (Manila's answer) when the body has no such object."""
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise Fault(422, f"Body does not contain '{key}' information.")
    return value


def known_backup(
    session: Session, runs: Runs, backup_id: str, project_id: str | None
) -> ShareBackup:
    """The backup as its run left it; 404 in Manila's words when missing or another's."""
    try:
        return settled(
            session=session,
            runs=runs,
            model=ShareBackup,
            record_id=backup_id,
            project_id=project_id,
        )
    except RecordNotFound:
        raise Fault(404, f"No backup exists with ID {backup_id}.") from None


def source_share(session: Session, runs: Runs, share_id: str, context: Context) -> Share:
    """The share a backup request names; 400 (Manila) when missing or another project's."""
    try:
        return visible_row(Share, share_id, context=context, session=session, runs=runs)
    except RecordNotFound:
        raise Fault(400, f"No share exists with ID {share_id}.") from None


@router.post("", status_code=202)
def create_share_backup(
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """202 `{"share_backup": detail}` in creating; the share goes backup_creating.

    Incremental on the share's newest available backup unless
    `backup_options: {"full": "true"}`. An admin's backup of another project's share
    belongs to the share's project.
    """
    raw = member(body, "share_backup")
    if not raw.get("share_id"):
        raise Fault(400, "'share_id' is missing from the request body.")
    spec = parse_value(ShareBackupCreate, raw, "share_backup")
    share = source_share(session, runs, spec.share_id, context)
    backup = share_backups.begin_share_backup(
        session=session,
        project_id=share.project_id,
        user_id=context.user_id,
        share_id=share.id,
        name=spec.name,
        description=spec.description,
        options=spec.backup_options,
    )
    kind = "incremental" if backup.parent_id else "full"
    logger.info("share backup %s of share %s: creating (%s)", backup.id, share.id, kind)
    launch(
        session=session,
        runs=runs,
        operation="create_share_backup",
        record=backup,
    )
    return {"share_backup": backup_detail(backup, view)}


def _listed(request: Request, context: Context, session: Session, runs: Runs) -> list[ShareBackup]:
    query = parse_query(
        request.query_params,
        context,
        filters=_FILTERS,
        admin_filters=("host",),
        aliases=_ALIASES,
        policy=LIST_ALL_POLICY,
    )
    if "share_id" in query.filters:
        source_share(session, runs, query.filters["share_id"], context)
    return fetch_rows(share_backups.list_share_backups, session, query)


@router.get("")
def list_share_backups(
    request: Request, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"share_backups": [{id, name, share_id, status}]}`; 400 for an unknown share_id."""
    rows = _listed(request, context, session, runs)
    settle(session=session, runs=runs, rows=rows)
    return {"share_backups": [backup_summary(b) for b in rows]}


@router.get("/detail")
def list_share_backups_detail(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"share_backups": [detail]}`; statuses follow their flow runs."""
    rows = _listed(request, context, session, runs)
    settle(session=session, runs=runs, rows=rows)
    return {"share_backups": [backup_detail(b, view) for b in rows]}


@router.get("/{backup_id}")
def show_share_backup(
    backup_id: str, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"share_backup": detail}`; 404 for another project's backup."""
    backup = known_backup(session, runs, backup_id, visible_project(context))
    return {"share_backup": backup_detail(backup, view)}


@router.put("/{backup_id}")
def update_share_backup(
    backup_id: str,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """200 `{"share_backup": detail}`: name/description (display_* accepted), any status."""
    spec = parse_value(ShareBackupUpdate, member(body, "share_backup"), "share_backup")
    project = visible_project(context)
    known_backup(session, runs, backup_id, project)
    given = spec.model_fields_set
    changes: dict[str, Any] = {}
    for key, wire in (("name", "display_name"), ("description", "display_description")):
        for field in (wire, key):  # the short name wins when both are given
            if field in given:
                changes[key] = getattr(spec, field)
    backup = share_backups.update_share_backup(
        session=session, backup_id=backup_id, project_id=project, changes=changes
    )
    logger.info("share backup %s: updated %s", backup.id, sorted(changes))
    return {"share_backup": backup_detail(backup, view)}


@router.delete("/{backup_id}", status_code=202, response_class=Response)
def delete_share_backup(
    backup_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202, empty; 400 unless available or error."""
    project = visible_project(context)
    known_backup(session, runs, backup_id, project)
    backup = share_backups.begin_share_backup_delete(
        session=session, backup_id=backup_id, project_id=project
    )
    logger.info("share backup %s: deleting", backup.id)
    launch(
        session=session,
        runs=runs,
        operation="delete_share_backup",
        record=backup,
    )
    return Response(status_code=202)
