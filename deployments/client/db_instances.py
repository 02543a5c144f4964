"""`safehold database instance`: Trove database instances (one database each)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import Cli, JsonOpt, WaitOpt, state
from deployments.client.output import Column
from deployments.client.waiting import Probe, status_probe

app = typer.Typer(help="Database instances (Trove v1.0).", no_args_is_help=True)

InstanceId = Annotated[str, typer.Argument(help="Instance id.")]
DatastoreOpt = Annotated[str, typer.Option("--datastore", help="sqlite, postgresql, mariadb.")]
VersionOpt = Annotated[str | None, typer.Option("--datastore-version", help="Server version.")]
SizeOpt = Annotated[int, typer.Option("--size", min=1, help="Nominal volume size in GiB.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Datastore", lambda row: row["datastore"]["type"]),
    ("Version", lambda row: row["datastore"]["version"]),
    ("Created", "created"),
)
BACKUP_COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Parent", "parent_id"),
    ("Created", "created"),
)


def _fault(row: dict[str, Any]) -> str | None:
    fault = row.get("fault")
    return str(fault.get("message")) if isinstance(fault, dict) else None


def instance_probe(cli: Cli, instance_id: str, *, gone_ok: bool = False) -> Probe:
    """Until the instance is ACTIVE (or gone, for a delete); ERROR fails with its fault."""
    return status_probe(
        lambda: cli.trove.find(f"/instances/{instance_id}", "instance"),
        ok=frozenset() if gone_ok else frozenset({"ACTIVE"}),
        bad=frozenset({"ERROR"}),
        gone_ok=gone_ok,
        reason=_fault,
    )


def _finish(cli: Cli, body: dict[str, Any], wait: bool, as_json: bool) -> None:
    instance = body["instance"]
    if not wait:
        cli.out(as_json).record(body, instance)
        return
    rid = instance["id"]
    reading = cli.follow(instance_probe(cli, rid), kind="instance", rid=rid)
    cli.out(as_json).line(cli.trove.get(f"/instances/{rid}"), f"instance {rid} {reading.status}")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Instance name.")],
    datastore: DatastoreOpt = "sqlite",
    version: VersionOpt = None,
    size: SizeOpt = 1,
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
    spec["datastore"] = {"type": datastore} | ({"version": version} if version else {})
    if database:
        spec["databases"] = [{"name": database}]
    if backup:
        spec["restorePoint"] = {"backupRef": backup}
    _finish(cli, cli.trove.post("/instances", {"instance": spec}), wait, as_json)


@app.command("manage")
def manage(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Instance name.")],
    database: Annotated[str, typer.Option("--database", help="Existing database.")],
    datastore: DatastoreOpt = "sqlite",
    version: VersionOpt = None,
    size: SizeOpt = 1,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a database already on a configured server (admin)."""
    cli = state(ctx)
    spec: dict[str, Any] = {"name": name, "database": database, "volume": {"size": size}}
    spec["datastore"] = {"type": datastore} | ({"version": version} if version else {})
    _finish(cli, cli.trove.post("/instances/manage", {"instance": spec}), wait, as_json)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List instances."""
    cli = state(ctx)
    body = cli.trove.get("/instances")
    cli.out(as_json).rows(body, body["instances"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOpt = False) -> None:
    """Show an instance."""
    cli = state(ctx)
    body = cli.trove.get(f"/instances/{instance_id}")
    cli.out(as_json).record(body, body["instance"], ("id", "name", "status", "datastore"))


@app.command("delete")
def delete(
    ctx: typer.Context, instance_id: InstanceId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete an instance and drop its database (its backups stay)."""
    cli = state(ctx)
    body = cli.trove.delete(f"/instances/{instance_id}")
    if wait:
        probe = instance_probe(cli, instance_id, gone_ok=True)
        cli.follow(probe, kind="instance", rid=instance_id)
    cli.out(as_json).line(body, f"instance {instance_id} {'deleted' if wait else 'deleting'}")


@app.command("databases")
def databases(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOpt = False) -> None:
    """List an instance's databases."""
    cli = state(ctx)
    body = cli.trove.get(f"/instances/{instance_id}/databases")
    cli.out(as_json).rows(body, body["databases"], (("Name", "name"),))


@app.command("backups")
def backups(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOpt = False) -> None:
    """List an instance's backups, newest first."""
    cli = state(ctx)
    body = cli.trove.get(f"/instances/{instance_id}/backups")
    cli.out(as_json).rows(body, body["backups"], BACKUP_COLUMNS)
