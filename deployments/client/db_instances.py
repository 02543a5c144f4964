"""`safehold database instance`: Trove database instances (one database each)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import state
from deployments.client.options import JsonOpt, WaitOpt
from deployments.client.output import ID_NAME_STATUS, Column
from deployments.client.resources import Resource, list_rows

app = typer.Typer(help="Database instances (Trove v1.0).", no_args_is_help=True)

InstanceId = Annotated[str, typer.Argument(help="Instance id.")]
DatastoreOpt = Annotated[str, typer.Option("--datastore", help="sqlite, postgresql, mariadb.")]
VersionOpt = Annotated[str | None, typer.Option("--datastore-version", help="Server version.")]
NominalSizeOpt = Annotated[int, typer.Option("--size", min=1, help="Nominal volume size in GiB.")]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Datastore", lambda row: row["datastore"]["type"]),
    ("Version", lambda row: row["datastore"]["version"]),
    ("Created", "created"),
)
BACKUP_COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Parent", "parent_id"),
    ("Created", "created"),
)


def _fault(row: dict[str, Any]) -> str | None:
    fault = row.get("fault")
    return str(fault.get("message")) if isinstance(fault, dict) else None


INSTANCES: Final = Resource(
    api=lambda cli: cli.trove,
    path="/instances",
    key="instance",
    kind="instance",
    fields=("id", "name", "status", "datastore"),
    ready=frozenset({"ACTIVE"}),
    failed=frozenset({"ERROR"}),
    reason=_fault,
)
# `create` and `manage` print a new instance's fields in the API's order (none first).
IN_API_ORDER: Final[tuple[str, ...]] = ()


def _datastore(datastore: str, version: str | None) -> dict[str, str]:
    """The datastore object: its type, and its version when given."""
    return {"type": datastore} | ({"version": version} if version else {})


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Instance name.")],
    datastore: DatastoreOpt = "sqlite",
    version: VersionOpt = None,
    size: NominalSizeOpt = 1,
    database: Annotated[str | None, typer.Option("--database", help="Database name.")] = None,
    backup: Annotated[
        str | None, typer.Option("--restore-from", help="Load this backup into it.")
    ] = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an instance: an empty database, or one restored from a backup."""
    cli = state(ctx)
    spec: dict[str, Any] = {"name": name, "volume": {"size": size}}
    spec["datastore"] = _datastore(datastore, version)
    if database:
        spec["databases"] = [{"name": database}]
    if backup:
        spec["restorePoint"] = {"backupRef": backup}
    body = cli.trove.post("/instances", {"instance": spec})
    INSTANCES.created(cli, body, wait, as_json, fields=IN_API_ORDER)


@app.command("manage")
def manage(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Instance name.")],
    database: Annotated[str, typer.Option("--database", help="Existing database.")],
    datastore: DatastoreOpt = "sqlite",
    version: VersionOpt = None,
    size: NominalSizeOpt = 1,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a database already on a configured server (admin)."""
    cli = state(ctx)
    spec: dict[str, Any] = {"name": name, "database": database, "volume": {"size": size}}
    spec["datastore"] = _datastore(datastore, version)
    body = cli.trove.post("/instances/manage", {"instance": spec})
    INSTANCES.created(cli, body, wait, as_json, fields=IN_API_ORDER)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List instances."""
    cli = state(ctx)
    list_rows(cli, cli.trove, "/instances", "instances", COLUMNS, as_json)


@app.command("show")
def show(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOpt = False) -> None:
    """Show an instance."""
    INSTANCES.show(state(ctx), instance_id, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, instance_id: InstanceId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete an instance and drop its database (its backups stay)."""
    cli = state(ctx)
    body = cli.trove.delete(f"/instances/{instance_id}")
    INSTANCES.deleted(cli, body, instance_id, wait, as_json)


@app.command("databases")
def databases(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOpt = False) -> None:
    """List an instance's databases."""
    cli = state(ctx)
    path = f"/instances/{instance_id}/databases"
    list_rows(cli, cli.trove, path, "databases", (("Name", "name"),), as_json)


@app.command("backups")
def backups(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOpt = False) -> None:
    """List an instance's backups, newest first."""
    cli = state(ctx)
    path = f"/instances/{instance_id}/backups"
    list_rows(cli, cli.trove, path, "backups", BACKUP_COLUMNS, as_json)
