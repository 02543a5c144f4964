"""`safehold share-backup`: Manila share backups (experimental API, microversion 2.91)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

import typer

from deployments.client.context import (
    AllProjectsOpt,
    Cli,
    DescriptionOpt,
    JsonOpt,
    NameOpt,
    WaitOpt,
    state,
)
from deployments.client.errors import OperationFailed
from deployments.client.output import Column, when
from deployments.client.waiting import Meter, Probe, Reading, status_probe

app = typer.Typer(help="Share backups (Manila v2).", no_args_is_help=True)

BackupId = Annotated[str, typer.Argument(help="Share backup id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Share", "share_id"),
    ("Size (GiB)", "size"),
    ("Created", when("created_at")),
)
FAILED: Final = frozenset({"error", "error_deleting"})


def _percent(value: Any) -> float | None:
    try:
        return float(str(value).rstrip("%"))
    except ValueError:
        return None


def percent_probe(fetch: Callable[[], dict[str, Any] | None], field: str, moving: str) -> Probe:
    """The backup's `field` percentage until it leaves the `moving` status."""

    def probe() -> Reading:
        row = fetch()
        if row is None:
            return Reading("deleted", finished=True, failed=True, reason="it is gone")
        status = str(row["status"])
        return Reading(
            status,
            done=_percent(row.get(field)),
            total=100,
            finished=status != moving,
            failed=status in FAILED,
        )

    return probe


def _fetch(cli: Cli, backup_id: str) -> Callable[[], dict[str, Any] | None]:
    return lambda: cli.manila.find(f"/share-backups/{backup_id}", "share_backup")


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
    probe = percent_probe(_fetch(cli, backup_id), "progress", "creating")
    reading = cli.follow(probe, kind="share backup", rid=backup_id, meter=Meter.PERCENT)
    final = cli.manila.get(f"/share-backups/{backup_id}")
    cli.out(as_json).line(final, f"share backup {backup_id} {reading.status}")


@app.command("list")
def list_(
    ctx: typer.Context,
    share: Annotated[str | None, typer.Option("--share", help="Of this share.")] = None,
    name: NameOpt = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    everyone: AllProjectsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List share backups."""
    cli = state(ctx)
    params = {"share_id": share, "name": name, "status": status}
    body = cli.manila.get("/share-backups/detail", params | {"all_tenants": everyone or None})
    cli.out(as_json).rows(body, body["share_backups"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Show a share backup."""
    cli = state(ctx)
    body = cli.manila.get(f"/share-backups/{backup_id}")
    cli.out(as_json).record(body, body["share_backup"], ("id", "name", "status", "share_id"))


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
    fields = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
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
    if wait:
        probe = status_probe(_fetch(cli, backup_id), ok=frozenset(), bad=FAILED, gone_ok=True)
        cli.follow(probe, kind="share backup", rid=backup_id)
    cli.out(as_json).line(body, f"share backup {backup_id} {'deleted' if wait else 'deleting'}")


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
    body = cli.manila.post(f"/share-backups/{backup_id}/action", {"restore": value})
    share_id = body["restore"]["share_id"]
    if not wait:
        cli.out(as_json).record(body, body["restore"])
        return
    probe = percent_probe(_fetch(cli, backup_id), "restore_progress", "restoring")
    cli.follow(probe, kind="share backup", rid=backup_id, meter=Meter.PERCENT)
    _check_target(cli, backup_id, share_id)
    cli.out(as_json).line(body, f"share backup {backup_id} restored to share {share_id}")


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    backup_id: BackupId,
    status: Annotated[str, typer.Argument(help="New status.")],
    as_json: JsonOpt = False,
) -> None:
    """Set a share backup's status by force (admin)."""
    cli = state(ctx)
    action = {"reset_status": {"status": status}}
    body = cli.manila.post(f"/share-backups/{backup_id}/action", action)
    cli.out(as_json).line(body, f"share backup {backup_id}: status reset to {status}")
