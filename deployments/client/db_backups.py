"""`safehold database backup`: Trove database backups (full or incremental chains)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import state
from deployments.client.options import (
    AfterBackupOpt,
    AllProjectsOpt,
    DescriptionOpt,
    JsonOpt,
    LimitOpt,
    WaitOpt,
)
from deployments.client.output import ID_NAME_STATUS, Column
from deployments.client.resources import Resource, list_rows

app = typer.Typer(help="Database backups (Trove v1.0).", no_args_is_help=True)

BackupId = Annotated[str, typer.Argument(help="Database backup id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Instance", "instance_id"),
    ("Parent", "parent_id"),
    ("Datastore", lambda row: row["datastore"]["type"]),
    ("Created", "created"),
)
DB_BACKUPS: Final = Resource(
    api=lambda cli: cli.trove,
    path="/backups",
    key="backup",
    kind="database backup",
    fields=("id", "name", "status", "instance_id", "parent_id", "size", "locationRef"),
    ready=frozenset({"COMPLETED", "RESTORED"}),
    failed=frozenset({"FAILED", "DELETE_FAILED"}),
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
    DB_BACKUPS.created(cli, cli.trove.post("/backups", {"backup": spec}), wait, as_json)


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
    cli.out(as_json).record(body, body["backup"], DB_BACKUPS.fields)


@app.command("list")
def list_(
    ctx: typer.Context,
    instance: Annotated[str | None, typer.Option("--instance", help="Of this instance.")] = None,
    datastore: Annotated[str | None, typer.Option("--datastore")] = None,
    everyone: AllProjectsOpt = False,
    limit: LimitOpt = None,
    marker: AfterBackupOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List database backups, newest first."""
    cli = state(ctx)
    params: dict[str, Any] = {"instance_id": instance, "datastore": datastore}
    params |= {"all_projects": everyone or None, "limit": limit, "marker": marker}
    list_rows(cli, cli.trove, "/backups", "backups", COLUMNS, as_json, params)


@app.command("show")
def show(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Show a database backup."""
    DB_BACKUPS.show(state(ctx), backup_id, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, backup_id: BackupId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a database backup and every backup based on it."""
    cli = state(ctx)
    body = cli.trove.delete(f"/backups/{backup_id}")
    DB_BACKUPS.deleted(cli, body, backup_id, wait, as_json)
