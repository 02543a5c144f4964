"""`safehold backup`: Cinder volume backups, with byte progress from Safehold's /v1."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client import backup_admin
from deployments.client.backup_follow import (
    BACKUPS,
    FAILED,
    MOVING,
    BackupId,
    delete_probe,
    follow_backup,
)
from deployments.client.context import Cli, state
from deployments.client.errors import OperationFailed
from deployments.client.http import Api, Body
from deployments.client.options import (
    AfterBackupOpt,
    AllProjectsOpt,
    DescriptionOpt,
    InUseOpt,
    JsonOpt,
    LimitOpt,
    NameOpt,
    PropertyOpt,
    StatusFilterOpt,
    WaitOpt,
    ZoneOpt,
)
from deployments.client.output import ID_NAME_STATUS, Column, when
from deployments.client.parsing import given, pairs

app = typer.Typer(help="Volume backups (Cinder v3).", no_args_is_help=True)
app.add_typer(backup_admin.app)

COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("GiB", "size"),
    ("Volume", "volume_id"),
    ("Incr.", "is_incremental"),
    ("Created", when("created_at")),
)


@app.command("create")
def create(
    ctx: typer.Context,
    volume_id: Annotated[str, typer.Argument(help="Volume to back up.")],
    name: NameOpt = None,
    description: DescriptionOpt = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Only what changed since the newest backup.")
    ] = False,
    force: InUseOpt = False,
    snapshot: Annotated[str | None, typer.Option("--snapshot-id", help="Of a snapshot.")] = None,
    container: Annotated[str | None, typer.Option("--container", help="Recorded only.")] = None,
    prop: PropertyOpt = None,
    zone: ZoneOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Back up a volume (full, or --incremental)."""
    cli = state(ctx)
    spec: dict[str, Any] = {"volume_id": volume_id, "incremental": incremental, "force": force}
    optional: dict[str, Any] = {"name": name, "description": description, "snapshot_id": snapshot}
    optional |= {"container": container, "metadata": pairs(prop), "availability_zone": zone}
    spec |= given(optional)
    body = cli.cinder.post("/backups", {"backup": spec})
    backup_id = body["backup"]["id"]
    if not wait:
        cli.out(as_json).record(body, body["backup"])
        return
    BACKUPS.finished(cli, backup_id, follow_backup(cli, backup_id), as_json)


def _pages(api: Api, first: Body, key: str) -> Body:
    """Every page, following `<key>_links` next hrefs, as one body."""
    rows, body = list(first[key]), first
    while True:
        nexts = [link["href"] for link in body.get(f"{key}_links", []) if link["rel"] == "next"]
        if not nexts:
            return {key: rows}
        body = api.get(nexts[0])
        rows += body[key]


@app.command("list")
def list_(
    ctx: typer.Context,
    name: NameOpt = None,
    status: StatusFilterOpt = None,
    volume: Annotated[str | None, typer.Option("--volume-id", help="Of this volume.")] = None,
    everyone: AllProjectsOpt = False,
    limit: LimitOpt = None,
    marker: AfterBackupOpt = None,
    sort: Annotated[str | None, typer.Option("--sort", help="key[:asc|desc],...")] = None,
    extra: Annotated[
        list[str] | None, typer.Option("--filter", metavar="KEY=VALUE", help="Other filter.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List backups, newest first (every page unless --limit)."""
    cli = state(ctx)
    params: dict[str, Any] = {"name": name, "status": status, "volume_id": volume}
    params |= {"all_tenants": everyone or None, "limit": limit, "marker": marker, "sort": sort}
    params |= pairs(extra, "--filter") or {}
    body = cli.cinder.get("/backups/detail", params)
    if limit is None:
        body = _pages(cli.cinder, body, "backups")
    cli.out(as_json).rows(body, body["backups"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Show a backup."""
    BACKUPS.show(state(ctx), backup_id, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    backup_id: BackupId,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: Annotated[
        list[str] | None,
        typer.Option("--property", metavar="KEY=VALUE", help="Metadata; replaces all of it."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a backup or replace its metadata."""
    cli = state(ctx)
    spec = {"name": name, "description": description, "metadata": pairs(prop)}
    fields = given(spec)
    if not fields:
        raise typer.BadParameter("give --name, --description or --property")
    body = cli.cinder.put(f"/backups/{backup_id}", {"backup": fields})
    cli.out(as_json).line(body, f"backup {backup_id} updated")


@app.command("delete")
def delete(
    ctx: typer.Context,
    backup_id: BackupId,
    cascade: Annotated[
        bool, typer.Option("--cascade", help="With every incremental based on it.")
    ] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a backup (--cascade: and its descendants, leaves first)."""
    cli = state(ctx)
    body = cli.cinder.delete(f"/backups/{backup_id}", {"cascade": cascade or None})
    BACKUPS.deleted(cli, body, backup_id, wait, as_json, probe=delete_probe(cli, backup_id))


def _check_target(cli: Cli, backup_id: str, volume_id: str) -> None:
    """After a restore: OperationFailed unless its volume came out available."""
    volume = cli.cinder.find(f"/volumes/{volume_id}", "volume")
    status = volume["status"] if volume is not None else "deleted"
    if status != "available":
        reason = cli.cinder.get(f"/backups/{backup_id}")["backup"].get("fail_reason")
        what = f"restore of backup {backup_id} to volume {volume_id}"
        raise OperationFailed(what, status, reason)


@app.command("restore")
def restore(
    ctx: typer.Context,
    backup_id: BackupId,
    volume: Annotated[
        str | None, typer.Option("--volume-id", help="Into this volume (default: a new one).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the new volume.")] = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup into a volume."""
    cli = state(ctx)
    target = given({"volume_id": volume, "name": name})
    body = cli.cinder.post(f"/backups/{backup_id}/restore", {"restore": target or None})
    volume_id = body["restore"]["volume_id"]
    if not wait:
        cli.out(as_json).record(body, body["restore"])
        return
    follow_backup(cli, backup_id)
    _check_target(cli, backup_id, volume_id)
    cli.out(as_json).line(body, f"backup {backup_id} restored to volume {volume_id}")


@app.command("progress")
def progress(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Follow a backup's running operation (or show how its last one ended)."""
    cli = state(ctx)
    body = cli.native.get(f"/backups/{backup_id}/progress")
    now = body["progress"]
    if as_json or cli.as_json or now["status"] not in MOVING:
        cli.out(as_json).record(body, now)
        if now["status"] in FAILED:
            raise OperationFailed(f"backup {backup_id}", now["status"], now.get("fail_reason"))
        return
    reading = follow_backup(cli, backup_id)
    cli.out().line(body, f"backup {backup_id} {reading.status}")
