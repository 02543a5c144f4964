"""Database instances: create (empty, or from a backup: restorePoint), list, show, delete,
their databases and their backups. Each create and delete is a flow run."""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.auth import Context, list_project, require_admin, visible_project
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep
from api.faults import Fault
from api.follow import settle, settled, visible_row
from api.runs import launch
from api.trove.datastores import datastores, resolve
from api.trove.routes.backups import backup_body, listed_backups
from api.trove.schemas import InstanceCreate, InstanceCreateBody, InstanceManageBody
from api.trove.views import instance_view
from storage.catalog import DbBackup, DbInstance, db_backups, db_instances
from storage.catalog.db_backups import RESTORABLE
from storage.settings import Settings
from storage.sources.databases import Datastore, DatastoreError

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/{project_id}", tags=["instances"])
DATABASE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def instance_bodies(
    request: Request, settings: Settings, instances: list[DbInstance]
) -> list[dict[str, Any]]:
    """The instances as Trove shows them, with their servers' endpoints (never
    credentials); the configuration is read once for all of them."""
    stores = datastores(settings)
    return [
        instance_view(
            instance,
            _base(request),
            stores[instance.datastore].endpoint() if instance.datastore in stores else None,
        )
        for instance in instances
    ]


def instance_body(request: Request, settings: Settings, instance: DbInstance) -> dict[str, Any]:
    """One instance as Trove shows it."""
    return instance_bodies(request, settings, [instance])[0]


def on_server(store: Datastore, database: str) -> bool:
    """Whether the server has the database; 503 when it cannot be reached."""
    try:
        return store.exists(database)
    except DatastoreError as exc:
        raise Fault(503, f"The {store.type} server cannot be reached: {exc}") from None


def _database_name(spec: InstanceCreate) -> str | None:
    if len(spec.databases) > 1:
        raise Fault(400, "An instance holds one database here: give at most one in databases.")
    if not spec.databases:
        return None
    name = spec.databases[0].name
    if not DATABASE_NAME.fullmatch(name):
        raise Fault(400, f"Database name {name[:80]!r} is invalid: letters, digits and _.")
    return name


def _restore_source(session: Session, context: Context, spec: InstanceCreate) -> DbBackup | None:
    if spec.restorePoint is None:
        return None
    project = visible_project(context)
    backup = db_backups.get_db_backup(
        session=session, backup_id=spec.restorePoint.backupRef, project_id=project
    )
    if backup.status not in RESTORABLE:
        raise Fault(400, f"Backup {backup.id} is {backup.status}: only a COMPLETED one restores.")
    return backup


@router.post("/instances")
def create_instance(
    request: Request,
    body: InstanceCreateBody,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """200 `{"instance": ...}` in BUILD; restorePoint loads a backup of any chain point
    directly. 400 for a database name the server already has (nothing is touched)."""
    spec = body.instance
    source = _restore_source(session, context, spec)
    kind = source.datastore if source is not None else spec.datastore.type
    store, version = resolve(settings, kind, spec.datastore.version)
    if source is not None and source.datastore != store.type:
        raise Fault(400, f"Backup {source.id} is of {source.datastore}, not {store.type}.")
    database = _database_name(spec)  # None: named after the new id, which no server has
    if database is not None and on_server(store, database):
        raise Fault(400, f"Database {database} already exists on {store.type}.")
    instance = db_instances.create_instance(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        name=spec.name,
        datastore=store.type,
        version=version,
        volume_size=spec.volume.size,
        database=database,
        restore_backup_id=source.id if source is not None else None,
    )
    logger.info("instance %s: building on %s %s", instance.id, store.type, version)
    launch(session=session, runs=runs, operation="create_db_instance", record=instance)
    return {"instance": instance_body(request, settings, instance)}


@router.post("/instances/manage")
def manage_instance(
    request: Request,
    body: InstanceManageBody,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Safehold's extension (admin): register a database that is already on a configured
    server as an instance of the caller's project; deleting it later forgets it and keeps
    the database. 403 for a non-admin, 404 when the server has no such database."""
    require_admin(context, "instance:manage")
    spec = body.instance
    if not DATABASE_NAME.fullmatch(spec.database):
        raise Fault(400, f"Database name {spec.database[:80]!r} is invalid.")
    store, version = resolve(settings, spec.datastore.type, spec.datastore.version)
    if not on_server(store, spec.database):
        raise Fault(404, f"Database {spec.database} is not on the {store.type} server.")
    instance = db_instances.create_instance(
        session=session,
        project_id=context.project_id,
        user_id=context.user_id,
        name=spec.name,
        datastore=store.type,
        version=version,
        volume_size=spec.volume.size,
        database=spec.database,
        managed=True,
    )
    logger.info("instance %s: registering %s on %s", instance.id, instance.database, store.type)
    launch(session=session, runs=runs, operation="create_db_instance", record=instance)
    return {"instance": instance_body(request, settings, instance)}


@router.get("/instances")
def list_instances(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """`{"instances": [...]}` of the project; statuses follow their flow runs."""
    rows = db_instances.list_instances(session=session, project_id=list_project(context, False))
    settle(session=session, runs=runs, rows=rows)
    return {"instances": instance_bodies(request, settings, rows)}


@router.get("/instances/{instance_id}")
def show_instance(
    request: Request,
    instance_id: str,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """`{"instance": ...}`; 404 for another project's."""
    instance = visible_row(DbInstance, instance_id, context=context, session=session, runs=runs)
    return {"instance": instance_body(request, settings, instance)}


@router.delete("/instances/{instance_id}", status_code=202, response_class=Response)
def delete_instance(
    instance_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """202: the database is dropped by a flow run; its backups stay (Trove). 422 while it
    builds or a backup dumps it."""
    project = visible_project(context)
    settled(session=session, runs=runs, model=DbInstance, record_id=instance_id, project_id=project)
    instance = db_instances.begin_instance_delete(
        session=session, instance_id=instance_id, project_id=project
    )
    logger.info("instance %s: deleting", instance.id)
    launch(session=session, runs=runs, operation="delete_db_instance", record=instance)
    return Response(status_code=202)


@router.get("/instances/{instance_id}/databases")
def list_databases(
    instance_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"databases": [{"name": ...}]}`: the one database to connect to."""
    instance = visible_row(DbInstance, instance_id, context=context, session=session, runs=runs)
    return {"databases": [{"name": instance.database}]}


@router.get("/instances/{instance_id}/backups")
def instance_backups(
    request: Request,
    instance_id: str,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """`{"backups": [...]}` of the instance, newest first."""
    visible_row(DbInstance, instance_id, context=context, session=session, runs=runs)
    rows = listed_backups(
        session, runs, project_id=visible_project(context), instance_id=instance_id
    )
    return {"backups": [backup_body(settings, row) for row in rows]}
