"""`safehold database backup`: Trove database backups (full or incremental chains)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import AllProjectsOpt, Cli, DescriptionOpt, JsonOpt, WaitOpt, state
from deployments.client.output import Column
from deployments.client.waiting import Probe, status_probe

app = typer.Typer(help="Database backups (Trove v1.0).", no_args_is_help=True)

BackupId = Annotated[str, typer.Argument(help="Database backup id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Instance", "instance_id"),
    ("Parent", "parent_id"),
    ("Datastore", lambda row: row["datastore"]["type"]),
    ("Created", "created"),
)
FIELDS: Final = ("id", "name", "status", "instance_id", "parent_id", "size", "locationRef")
DONE: Final = frozenset({"COMPLETED", "RESTORED"})
FAILED: Final = frozenset({"FAILED", "DELETE_FAILED"})


def backup_probe(cli: Cli, backup_id: str, *, gone_ok: bool = False) -> Probe:
    """Until the backup is COMPLETED (or gone, for a delete); FAILED ends it too."""
    return status_probe(
        lambda: cli.trove.find(f"/backups/{backup_id}", "backup"),
        ok=frozenset() if gone_ok else DONE,
        bad=FAILED,
        gone_ok=gone_ok,
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Backup name.")],
    instance: Annotated[str, typer.Option("--instance", help="Instance to back up.")],
    description: DescriptionOpt = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Incremental on this backup.")
    ] = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Incremental on the newest completed backup.")
    ] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Back up an instance's database."""
    cli = state(ctx)
    spec: dict[str, Any] = {"name": name, "instance": instance, "incremental": incremental}
    spec |= {k: v for k, v in (("description", description), ("parent_id", parent)) if v}
    body = cli.trove.post("/backups", {"backup": spec})
    backup_id = body["backup"]["id"]
    if not wait:
        cli.out(as_json).record(body, body["backup"], FIELDS)
        return
    reading = cli.follow(backup_probe(cli, backup_id), kind="database backup", rid=backup_id)
    final = cli.trove.get(f"/backups/{backup_id}")
    cli.out(as_json).line(final, f"database backup {backup_id} {reading.status}")


@app.command("register")
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Backup name.")],
    location: Annotated[str, typer.Option("--location", help="Its locationRef in the store.")],
    version_id: Annotated[
        str | None, typer.Option("--datastore-version-id", help="Expected server version.")
    ] = None,
    description: DescriptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a backup already in the store (Trove's restore_from)."""
    cli = state(ctx)
    source: dict[str, Any] = {"remote_location": location}
    if version_id:
        source["local_datastore_version_id"] = version_id
    spec: dict[str, Any] = {"name": name, "restore_from": source}
    if description:
        spec["description"] = description
    body = cli.trove.post("/backups", {"backup": spec})
    cli.out(as_json).record(body, body["backup"], FIELDS)


@app.command("list")
def list_(
    ctx: typer.Context,
    instance: Annotated[str | None, typer.Option("--instance", help="Of this instance.")] = None,
    datastore: Annotated[str | None, typer.Option("--datastore")] = None,
    everyone: AllProjectsOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", help="One page of this size.")] = None,
    marker: Annotated[str | None, typer.Option("--marker", help="After this backup.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List database backups, newest first."""
    cli = state(ctx)
    params: dict[str, Any] = {"instance_id": instance, "datastore": datastore}
    params |= {"all_projects": everyone or None, "limit": limit, "marker": marker}
    body = cli.trove.get("/backups", params)
    cli.out(as_json).rows(body, body["backups"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Show a database backup."""
    cli = state(ctx)
    body = cli.trove.get(f"/backups/{backup_id}")
    cli.out(as_json).record(body, body["backup"], FIELDS)


@app.command("delete")
def delete(
    ctx: typer.Context, backup_id: BackupId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a database backup and every backup based on it."""
    cli = state(ctx)
    body = cli.trove.delete(f"/backups/{backup_id}")
    if wait:
        probe = backup_probe(cli, backup_id, gone_ok=True)
        cli.follow(probe, kind="database backup", rid=backup_id)
    cli.out(as_json).line(body, f"database backup {backup_id} {'deleted' if wait else 'deleting'}")
