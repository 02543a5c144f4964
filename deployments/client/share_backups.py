"""`safehold share-backup`: Manila share backups (experimental API, microversion 2.91)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import Cli, state
from deployments.client.errors import OperationFailed
from deployments.client.options import (
    AllProjectsOpt,
    DescriptionOpt,
    JsonOpt,
    NameOpt,
    NewStatusArg,
    StatusFilterOpt,
    WaitOpt,
)
from deployments.client.output import ID_NAME_STATUS, Column, when
from deployments.client.parsing import given
from deployments.client.resources import Resource, list_rows
from deployments.client.waiting import Meter, Probe, Reading

app = typer.Typer(help="Share backups (Manila v2).", no_args_is_help=True)

BackupId = Annotated[str, typer.Argument(help="Share backup id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Share", "share_id"),
    ("Size (GiB)", "size"),
    ("Created", when("created_at")),
)
SHARE_BACKUPS: Final = Resource(
    api=lambda cli: cli.manila,
    path="/share-backups",
    key="share_backup",
    kind="share backup",
    fields=("id", "name", "status", "share_id"),
    failed=frozenset({"error", "error_deleting"}),
)


def _percent(value: Any) -> float | None:
    try:
        return float(str(value).rstrip("%"))
    except ValueError:
        return None


def percent_probe(cli: Cli, backup_id: str, field: str, moving: str) -> Probe:
    """The backup's `field` percentage until it leaves the `moving` status."""

    def probe() -> Reading:
        row = SHARE_BACKUPS.find(cli, backup_id)
        if row is None:
            return Reading("deleted", finished=True, failed=True, reason="it is gone")
        status = str(row["status"])
        return Reading(
            status,
            done=_percent(row.get(field)),
            total=100,
            finished=status != moving,
            failed=status in SHARE_BACKUPS.failed,
        )

    return probe


@app.command("create")
def create(
    ctx: typer.Context,
    share_id: Annotated[str, typer.Argument(help="Share to back up.")],
    name: NameOpt = None,
    description: DescriptionOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Full, not incremental on the newest backup.")
    ] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Back up a share (incremental on its newest available backup unless --full)."""
    cli = state(ctx)
    spec: dict[str, Any] = {"share_id": share_id, "name": name, "description": description}
    if full:
        spec["backup_options"] = {"full": "true"}
    body = cli.manila.post("/share-backups", {"share_backup": spec})
    backup_id = body["share_backup"]["id"]
    if not wait:
        cli.out(as_json).record(body, body["share_backup"])
        return
    probe = percent_probe(cli, backup_id, "progress", "creating")
    reading = cli.follow(probe, kind="share backup", rid=backup_id, meter=Meter.PERCENT)
    SHARE_BACKUPS.finished(cli, backup_id, reading, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    share: Annotated[str | None, typer.Option("--share", help="Of this share.")] = None,
    name: NameOpt = None,
    status: StatusFilterOpt = None,
    everyone: AllProjectsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List share backups."""
    cli = state(ctx)
    params = {"share_id": share, "name": name, "status": status, "all_tenants": everyone or None}
    list_rows(cli, cli.manila, "/share-backups/detail", "share_backups", COLUMNS, as_json, params)


@app.command("show")
def show(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Show a share backup."""
    SHARE_BACKUPS.show(state(ctx), backup_id, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    backup_id: BackupId,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a share backup or change its description."""
    cli = state(ctx)
    fields = given({"name": name, "description": description})
    if not fields:
        raise typer.BadParameter("give --name or --description")
    body = cli.manila.put(f"/share-backups/{backup_id}", {"share_backup": fields})
    cli.out(as_json).line(body, f"share backup {backup_id} updated")


@app.command("delete")
def delete(
    ctx: typer.Context, backup_id: BackupId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a share backup."""
    cli = state(ctx)
    body = cli.manila.delete(f"/share-backups/{backup_id}")
    SHARE_BACKUPS.deleted(cli, body, backup_id, wait, as_json)


def _check_target(cli: Cli, backup_id: str, share_id: str) -> None:
    """After a restore: OperationFailed unless its share came out available."""
    share = cli.manila.find(f"/shares/{share_id}", "share")
    status = share["status"] if share is not None else "deleted"
    if status != "available":
        raise OperationFailed(f"restore of share backup {backup_id} to share {share_id}", status)


@app.command("restore")
def restore(
    ctx: typer.Context,
    backup_id: BackupId,
    target: Annotated[
        str | None, typer.Option("--target-share", help="Into this share (default: its own).")
    ] = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a share backup into its share, or another one."""
    cli = state(ctx)
    value = {"target_share_id": target} if target else None
    body = SHARE_BACKUPS.action(cli, backup_id, {"restore": value})
    share_id = body["restore"]["share_id"]
    if not wait:
        cli.out(as_json).record(body, body["restore"])
        return
    probe = percent_probe(cli, backup_id, "restore_progress", "restoring")
    cli.follow(probe, kind="share backup", rid=backup_id, meter=Meter.PERCENT)
    _check_target(cli, backup_id, share_id)
    cli.out(as_json).line(body, f"share backup {backup_id} restored to share {share_id}")


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    backup_id: BackupId,
    status: NewStatusArg,
    as_json: JsonOpt = False,
) -> None:
    """Set a share backup's status by force (admin)."""
    SHARE_BACKUPS.reset_status(state(ctx), backup_id, status, as_json, action="reset_status")
