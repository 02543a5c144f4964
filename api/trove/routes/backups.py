"""Database backups (seed 002): create (full, incremental on a parent or the newest),
list with filters and marker paging, show, delete with cascade to every descendant."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.auth import Context, list_project, visible_project
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep
from api.faults import Fault
from api.follow import settle, settled, visible_row
from api.runs import Runs, launch
from api.trove.datastores import ALIASES
from api.trove.registration import read_registration
from api.trove.schemas import TRUE_WORDS, BackupCreate, BackupCreateBody
from api.trove.views import backup_view
from storage.catalog import DbBackup, db_backups, db_instances
from storage.errors import InvalidRequest
from storage.settings import Settings

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/{project_id}", tags=["backups"])


def location(settings: Settings, backup: DbBackup) -> str:
    """Where the backup's manifest is stored (its commit point): store URL + key."""
    base = settings.resolved_backup_url().rstrip("/")
    return f"{base}/databases/{backup.owner_id}/manifests/{backup.id}"


def backup_body(settings: Settings, backup: DbBackup) -> dict[str, Any]:
    """The backup as Trove shows it."""
    return backup_view(backup, location(settings, backup))


def listed_backups(
    session: Session, runs: Runs, *, project_id: str | None, **filters: str
) -> list[DbBackup]:
    """The backups matching ``filters``, settled against their runs, newest first."""
    rows = db_backups.list_db_backups(session=session, project_id=project_id, filters=filters)
    settle(session=session, runs=runs, rows=rows)
    return rows


@router.post("/backups", status_code=202)
def create_backup(
    body: BackupCreateBody,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """202 `{"backup": ...}` NEW; 400 without an instance, 404 for an unknown one (or
    parent), 422 unless the instance is ACTIVE."""
    spec = body.backup
    if spec.restore_from is not None:
        return {"backup": backup_body(settings, _register(spec, context, session, settings))}
    if not spec.instance:
        raise Fault(400, "BackupCreationError: an instance is required.")
    project = visible_project(context)
    instance = db_instances.get_instance(
        session=session, instance_id=spec.instance, project_id=project
    )
    settle(session=session, runs=runs, rows=[instance])
    backup = db_backups.begin_db_backup(
        session=session,
        project_id=instance.project_id,
        user_id=context.user_id,
        instance=instance,
        name=spec.name,
        description=spec.description,
        parent_id=spec.parent_id,
        incremental=spec.incremental,
    )
    logger.info("db backup %s of instance %s: parent %s", backup.id, instance.id, backup.parent_id)
    launch(session=session, runs=runs, operation="create_db_backup", record=backup)
    return {"backup": backup_body(settings, backup)}


def _register(
    spec: BackupCreate, context: Context, session: Session, settings: Settings
) -> DbBackup:
    """Trove's restore_from: the stored backup at the location, registered as RESTORED."""
    found = read_registration(settings, context, spec.restore_from or {})
    try:
        backup = db_backups.register_db_backup(
            session=session,
            project_id=context.project_id,
            user_id=context.user_id,
            name=spec.name,
            description=spec.description,
            **found,
        )
    except InvalidRequest as exc:
        raise Fault(409, str(exc)) from None
    logger.info("db backup %s: registered from the store", backup.id)
    return backup


def _page(
    request: Request, rows: list[DbBackup], limit: str | None, marker: str | None
) -> tuple[list[DbBackup], list[dict[str, str]]]:
    if marker is not None:
        ids = [row.id for row in rows]
        if marker not in ids:
            raise Fault(400, f"Marker {marker[:80]} is not a listed backup.")
        rows = rows[ids.index(marker) + 1 :]
    if limit is None:
        return rows, []
    try:
        size = int(limit)
    except ValueError:
        raise Fault(400, "limit must be an integer.") from None
    if size < 1:
        raise Fault(400, "limit must be positive.")
    if len(rows) <= size:
        return rows, []
    page = rows[:size]
    query = request.query_params.multi_items()
    kept = "&".join(f"{k}={v}" for k, v in query if k != "marker")
    href = f"{str(request.url).split('?')[0]}?{kept}&marker={page[-1].id}".replace("?&", "?")
    return page, [{"rel": "next", "href": href}]


@router.get("/backups")
def list_backups(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """`{"backups": [...]}`: filters instance_id, datastore; limit/marker (next link);
    all_projects and project_id for an admin."""
    query = request.query_params
    everyone = query.get("all_projects", "").lower() in TRUE_WORDS
    project = list_project(context, everyone)
    if context.is_admin and query.get("project_id"):
        project = query["project_id"]
    filters: dict[str, str] = {}
    if query.get("instance_id"):
        filters["instance_id"] = query["instance_id"]
    if query.get("datastore"):
        kind = query["datastore"].lower()
        filters["datastore"] = ALIASES.get(kind, kind)
    rows = listed_backups(session, runs, project_id=project, **filters)
    page, links = _page(request, rows, query.get("limit"), query.get("marker"))
    body: dict[str, Any] = {"backups": [backup_body(settings, row) for row in page]}
    if links:
        body["links"] = links
    return body


@router.get("/backups/{backup_id}")
def show_backup(
    backup_id: str, context: ContextDep, session: SessionDep, runs: RunsDep, settings: SettingsDep
) -> dict[str, Any]:
    """`{"backup": ...}`; 404 unknown or another project's."""
    backup = visible_row(DbBackup, backup_id, context=context, session=session, runs=runs)
    return {"backup": backup_body(settings, backup)}


@router.delete("/backups/{backup_id}", status_code=202, response_class=Response)
def delete_backup(
    backup_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202: the backup and every descendant are deleted, leaves first, by one flow run
    (each deletion a child run); 422 while any of them is still running."""
    project = visible_project(context)
    settled(session=session, runs=runs, model=DbBackup, record_id=backup_id, project_id=project)
    rows = db_backups.begin_db_backup_delete(
        session=session, backup_id=backup_id, project_id=project
    )
    root = rows[-1]
    logger.info("db backup %s: deleting with %d descendants", root.id, len(rows) - 1)
    launch(session=session, runs=runs, operation="delete_db_backup_tree", record=root)
    return Response(status_code=202)
