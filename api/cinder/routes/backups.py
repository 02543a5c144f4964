"""Cinder v3 backups: list, detail, show, create, delete, restore (FIELDS.md 3).

Routes are plain functions (FastAPI runs them in a worker thread): the catalog
session is blocking, and `Runs` hops to the event loop for the launcher.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from api.auth import visible_project
from api.cinder.backup_listing import backup_page
from api.cinder.cascade import cascade_delete
from api.cinder.schemas import BackupCreateBody, RestoreBody, RestoreTarget, reject_unless
from api.cinder.views.backups import backup_detail, backup_summary
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, ViewDep
from api.follow import settle, settled, visible_row
from api.runs import launch
from storage import catalog
from storage.catalog import Backup

logger = logging.getLogger(__name__)

# Mounted under /v3 and /v2 by api.cinder.trees.include_cinder.
router = APIRouter(prefix="/{project_id}/backups", tags=["backups"])


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
    snapshot = None
    if spec.snapshot_id is not None:  # 404 for a missing or foreign snapshot
        snapshot = catalog.get_snapshot(
            session=session, snapshot_id=spec.snapshot_id, project_id=context.project_id
        )
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
        incremental=spec.incremental,
        snapshot_id=spec.snapshot_id,
        # An incremental of a snapshot chains onto backups older than the snapshot.
        parent_taken_before=snapshot.created_at if snapshot is not None else None,
    )
    logger.info("backup %s of volume %s: creating", backup.id, backup.volume_id)
    launch(session=session, runs=runs, operation="create_backup", record=backup)
    return {"backup": backup_summary(backup, view)}


@router.get("")
def list_backups(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep
) -> dict[str, Any]:
    """`{"backups": [summary]}` (+ backups_links when the page is full, + count at 3.45)."""
    page = backup_page(request, context, view, session)
    items = [backup_summary(b, view) for b in page.rows]
    return page.body(request.url, "backups", items, view.version)


@router.get("/detail")
def list_backups_detail(
    request: Request, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"backups": [detail]}`; statuses follow their flow runs."""
    page = backup_page(request, context, view, session)
    settle(session=session, runs=runs, rows=page.rows)
    items = [backup_detail(b, view) for b in page.rows]
    return page.body(request.url, "backups", items, view.version)


@router.get("/{backup_id}")
def show_backup(
    backup_id: str, context: ContextDep, view: ViewDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"backup": detail}`; 404 for a backup of another project."""
    backup = visible_row(Backup, backup_id, context=context, session=session, runs=runs)
    return {"backup": backup_detail(backup, view)}


@router.delete("/{backup_id}", status_code=202, response_class=Response)
def delete_backup(
    backup_id: str,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    cascade: bool = False,
) -> Response:
    """202, empty; 400 unless available/error or while incremental children exist.

    `?cascade=true` (Safehold extension, api/cinder/cascade.py) deletes the descendants too.
    """
    project = visible_project(context)
    # A crashed run must not keep the backup "deleting" forever: settle before guarding.
    current = settled(
        session=session, runs=runs, model=Backup, record_id=backup_id, project_id=project
    )
    if cascade_delete(
        session=session, runs=runs, backup=current, project_id=project, asked=cascade
    ):
        return Response(status_code=202)
    backup = catalog.begin_backup_delete(session=session, backup_id=backup_id, project_id=project)
    logger.info("backup %s: deleting", backup.id)
    launch(session=session, runs=runs, operation="delete_backup", record=backup)
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
    settled(
        session=session, runs=runs, model=Backup, record_id=backup_id, project_id=context.project_id
    )
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
