"""Cinder v3 backups: list, detail, show, create, delete, restore (FIELDS.md 3).

Routes are plain functions (FastAPI runs them in a worker thread): the catalog
session is blocking, and `Runs` hops to the event loop for the launcher.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.auth import Context, visible_project
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, ViewDep
from api.faults import Fault
from api.follow import settle_backups
from api.listing import ListQuery, next_links, parse_list_query
from api.runs import launch
from api.schemas import BackupCreateBody, RestoreBody, RestoreTarget, reject_unless
from api.views.backups import backup_detail, backup_summary
from api.views.common import ViewContext
from storage import catalog
from storage.catalog import Backup
from storage.catalog.backups import FILTER_KEYS

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v3/{project_id}/backups", tags=["backups"])


@router.post("", status_code=202)
def create_backup(
    body: BackupCreateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    runs: RunsDep,
) -> dict[str, Any]:
    """202 with the summary; the volume goes backing-up and create-backup is started."""
    spec = body.backup
    reject_unless(spec, "backup", view.version, {"metadata": (3, 43), "availability_zone": (3, 51)})
    if spec.incremental:
        raise Fault(
            400,
            "Incremental backups are not supported yet; create a full backup (incremental=false).",
        )
    if spec.snapshot_id is not None:
        raise Fault(404, f"Snapshot {spec.snapshot_id} could not be found.")
    backup = catalog.begin_backup(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        volume_id=spec.volume_id,
        name=spec.name,
        description=spec.description,
        container=spec.container,
        metadata=spec.metadata,
        availability_zone=spec.availability_zone,
        force=spec.force,
    )
    logger.info("backup %s of volume %s: creating", backup.id, backup.volume_id)
    launch(
        session=session,
        runs=runs,
        operation="create_backup",
        record=backup,
        parameters={"backup_id": backup.id},
    )
    return {"backup": backup_summary(backup, view)}


def _page(
    request: Request, context: Context, view: ViewContext, session: Session
) -> tuple[ListQuery, list[Backup], int]:
    query = parse_list_query(request.query_params, version=view.version, filter_keys=FILTER_KEYS)
    # all_tenants is honoured for admins only; anyone else silently sees their project.
    project = None if context.is_admin and query.all_tenants else context.project_id
    rows, total = catalog.list_backups(
        session=session,
        project_id=project,
        filters=query.filters,
        sort=query.sort,
        limit=query.limit,
        marker=query.marker,
        offset=query.offset,
    )
    return query, rows, total


def _collection(
    request: Request,
    view: ViewContext,
    page: tuple[ListQuery, list[Backup], int],
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    query, rows, total = page
    body: dict[str, Any] = {"backups": items}
    body.update(next_links(request.url, rows, query.limit, "backups"))
    if query.with_count and view.version >= (3, 45):
        body["count"] = total
    return body


@router.get("")
def list_backups(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep
) -> dict[str, Any]:
    """`{"backups": [summary]}` (+ backups_links when the page is full, + count at 3.45)."""
    page = _page(request, context, view, session)
    return _collection(request, view, page, [backup_summary(b, view) for b in page[1]])


@router.get("/detail")
def list_backups_detail(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"backups": [detail]}`; statuses follow their flow runs."""
    page = _page(request, context, view, session)
    settle_backups(session=session, runs=runs, backups=page[1])
    return _collection(request, view, page, [backup_detail(b, view) for b in page[1]])


@router.get("/{backup_id}")
def show_backup(
    backup_id: str, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"backup": detail}`; 404 for a backup of another project."""
    backup = catalog.get_backup(
        session=session, backup_id=backup_id, project_id=visible_project(context)
    )
    settle_backups(session=session, runs=runs, backups=[backup])
    return {"backup": backup_detail(backup, view)}


@router.delete("/{backup_id}", status_code=202, response_class=Response)
def delete_backup(
    backup_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202, empty; 400 unless available/error or while incremental children exist."""
    project = visible_project(context)
    current = catalog.get_backup(session=session, backup_id=backup_id, project_id=project)
    # A crashed run must not keep the backup "deleting" forever: settle before guarding.
    settle_backups(session=session, runs=runs, backups=[current])
    backup = catalog.begin_backup_delete(session=session, backup_id=backup_id, project_id=project)
    logger.info("backup %s: deleting", backup.id)
    launch(
        session=session,
        runs=runs,
        operation="delete_backup",
        record=backup,
        parameters={"backup_id": backup.id},
    )
    return Response(status_code=202)


@router.post("/{backup_id}/restore", status_code=202)
def restore_backup(
    backup_id: str,
    body: RestoreBody,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """202 `{"restore": {backup_id, volume_id, volume_name}}`; a new volume unless named."""
    target = body.restore or RestoreTarget()
    current = catalog.get_backup(
        session=session, backup_id=backup_id, project_id=context.project_id
    )
    settle_backups(session=session, runs=runs, backups=[current])
    backup, volume = catalog.begin_restore(
        session=session,
        backup_id=backup_id,
        project_id=context.project_id,
        user_id=context.user_id,
        volume_id=target.volume_id,
        name=target.name,
        volumes_dir=settings.volumes_dir,
    )
    logger.info("backup %s: restoring to volume %s", backup.id, volume.id)
    launch(
        session=session,
        runs=runs,
        operation="restore_backup",
        record=backup,
        parameters={"backup_id": backup.id, "volume_id": volume.id},
    )
    return {"restore": {"backup_id": backup.id, "volume_id": volume.id, "volume_name": volume.name}}
