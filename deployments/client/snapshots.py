"""`safehold snapshot`: point-in-time copies of volumes (Cinder v3)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import (
    AllProjectsOpt,
    Cli,
    DescriptionOpt,
    JsonOpt,
    NameOpt,
    PropertyOpt,
    WaitOpt,
    state,
)
from deployments.client.output import Column, when
from deployments.client.parsing import pairs
from deployments.client.waiting import Probe, status_probe

app = typer.Typer(help="Volume snapshots (Cinder v3).", no_args_is_help=True)

SnapshotId = Annotated[str, typer.Argument(help="Snapshot id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Size (GiB)", "size"),
    ("Volume", "volume_id"),
    ("Created", when("created_at")),
)
FIELDS: Final = ("id", "name", "status", "volume_id", "size", "description", "metadata")
FAILED: Final = frozenset({"error", "error_deleting"})


def snapshot_probe(cli: Cli, snapshot_id: str, *, gone_ok: bool = False) -> Probe:
    """Until the snapshot is available (or gone, for a delete)."""
    return status_probe(
        lambda: cli.cinder.find(f"/snapshots/{snapshot_id}", "snapshot"),
        ok=frozenset() if gone_ok else frozenset({"available"}),
        bad=FAILED,
        gone_ok=gone_ok,
    )


def _follow_delete(cli: Cli, body: dict[str, Any], snapshot_id: str, wait: bool, j: bool) -> None:
    if wait:
        cli.follow(snapshot_probe(cli, snapshot_id, gone_ok=True), kind="snapshot", rid=snapshot_id)
    cli.out(j).line(body, f"snapshot {snapshot_id} {'deleted' if wait else 'deleting'}")


@app.command("create")
def create(
    ctx: typer.Context,
    volume_id: Annotated[str, typer.Argument(help="Volume to copy.")],
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Also of an in-use volume.")] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Snapshot a volume."""
    cli = state(ctx)
    spec: dict[str, Any] = {"volume_id": volume_id, "name": name, "description": description}
    spec |= {"metadata": pairs(prop), "force": force or None}
    body = cli.cinder.post("/snapshots", {"snapshot": {k: v for k, v in spec.items() if v}})
    snapshot = body["snapshot"]
    if not wait:
        cli.out(as_json).record(body, snapshot, FIELDS)
        return
    reading = cli.follow(snapshot_probe(cli, snapshot["id"]), kind="snapshot", rid=snapshot["id"])
    final = cli.cinder.get(f"/snapshots/{snapshot['id']}")
    cli.out(as_json).line(final, f"snapshot {snapshot['id']} {reading.status}")


@app.command("list")
def list_(
    ctx: typer.Context,
    volume: Annotated[str | None, typer.Option("--volume", help="Of this volume.")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    name: NameOpt = None,
    everyone: AllProjectsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List snapshots."""
    cli = state(ctx)
    params = {"volume_id": volume, "status": status, "name": name, "all_tenants": everyone or None}
    body = cli.cinder.get("/snapshots/detail", params)
    cli.out(as_json).rows(body, body["snapshots"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, snapshot_id: SnapshotId, as_json: JsonOpt = False) -> None:
    """Show a snapshot."""
    cli = state(ctx)
    body = cli.cinder.get(f"/snapshots/{snapshot_id}")
    cli.out(as_json).record(body, body["snapshot"], FIELDS)


@app.command("update")
def update(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    replace: Annotated[
        bool, typer.Option("--no-property", help="Replace all metadata by the --property items.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename a snapshot or set its metadata (merged, unless --no-property)."""
    cli = state(ctx)
    body: dict[str, Any] = {}
    fields = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    if fields:
        body = cli.cinder.put(f"/snapshots/{snapshot_id}", {"snapshot": fields})
    metadata = pairs(prop)
    if metadata is not None or replace:
        method = cli.cinder.put if replace else cli.cinder.post
        body = method(f"/snapshots/{snapshot_id}/metadata", {"metadata": metadata or {}})
    if not body:
        raise typer.BadParameter("give --name, --description, --property or --no-property")
    cli.out(as_json).line(body, f"snapshot {snapshot_id} updated")


@app.command("unset")
def unset(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    keys: Annotated[list[str], typer.Option("--property", metavar="KEY", help="Key to remove.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove metadata keys from a snapshot."""
    cli = state(ctx)
    for key in keys:
        cli.cinder.delete(f"/snapshots/{snapshot_id}/metadata/{key}")
    body = cli.cinder.get(f"/snapshots/{snapshot_id}/metadata")
    cli.out(as_json).line(body, f"snapshot {snapshot_id}: removed {', '.join(keys)}")


@app.command("delete")
def delete(
    ctx: typer.Context, snapshot_id: SnapshotId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a snapshot."""
    cli = state(ctx)
    body = cli.cinder.delete(f"/snapshots/{snapshot_id}")
    _follow_delete(cli, body, snapshot_id, wait, as_json)


@app.command("force-delete")
def force_delete(
    ctx: typer.Context, snapshot_id: SnapshotId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a snapshot whatever its status (admin)."""
    cli = state(ctx)
    body = cli.cinder.post(f"/snapshots/{snapshot_id}/action", {"os-force_delete": {}})
    _follow_delete(cli, body, snapshot_id, wait, as_json)


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    status: Annotated[str, typer.Argument(help="New status.")],
    as_json: JsonOpt = False,
) -> None:
    """Set a snapshot's status by force (admin)."""
    cli = state(ctx)
    action = {"os-reset_status": {"status": status}}
    body = cli.cinder.post(f"/snapshots/{snapshot_id}/action", action)
    cli.out(as_json).line(body, f"snapshot {snapshot_id}: status reset to {status}")


@app.command("update-status")
def update_status(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    status: Annotated[str, typer.Argument(help="Reported status.")],
    progress: Annotated[str | None, typer.Option("--progress", help="e.g. 50%.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Report a snapshot's status and progress (os-update_snapshot_status)."""
    cli = state(ctx)
    value = {"status": status} | ({"progress": progress} if progress else {})
    body = cli.cinder.post(f"/snapshots/{snapshot_id}/action", {"os-update_snapshot_status": value})
    cli.out(as_json).line(body, f"snapshot {snapshot_id}: {status} reported")
