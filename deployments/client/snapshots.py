"""`safehold snapshot`: point-in-time copies of volumes (Cinder v3)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client import metadata
from deployments.client.context import state
from deployments.client.options import (
    AllProjectsOpt,
    DescriptionOpt,
    InUseOpt,
    JsonOpt,
    NameOpt,
    NewStatusArg,
    NoPropertyOpt,
    PropertyOpt,
    StatusFilterOpt,
    UnsetKeysOpt,
    WaitOpt,
)
from deployments.client.output import ID_NAME_STATUS, Column, when
from deployments.client.parsing import pairs
from deployments.client.resources import Resource, list_rows

app = typer.Typer(help="Volume snapshots (Cinder v3).", no_args_is_help=True)

SnapshotId = Annotated[str, typer.Argument(help="Snapshot id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Size (GiB)", "size"),
    ("Volume", "volume_id"),
    ("Created", when("created_at")),
)
SNAPSHOTS: Final = Resource(
    api=lambda cli: cli.cinder,
    path="/snapshots",
    key="snapshot",
    kind="snapshot",
    fields=("id", "name", "status", "volume_id", "size", "description", "metadata"),
    ready=frozenset({"available"}),
    failed=frozenset({"error", "error_deleting"}),
)


@app.command("create")
def create(
    ctx: typer.Context,
    volume_id: Annotated[str, typer.Argument(help="Volume to copy.")],
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    force: InUseOpt = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Snapshot a volume."""
    cli = state(ctx)
    spec: dict[str, Any] = {"volume_id": volume_id, "name": name, "description": description}
    spec |= {"metadata": pairs(prop), "force": force or None}
    body = cli.cinder.post("/snapshots", {"snapshot": {k: v for k, v in spec.items() if v}})
    SNAPSHOTS.created(cli, body, wait, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    volume: Annotated[str | None, typer.Option("--volume", help="Of this volume.")] = None,
    status: StatusFilterOpt = None,
    name: NameOpt = None,
    everyone: AllProjectsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List snapshots."""
    cli = state(ctx)
    params = {"volume_id": volume, "status": status, "name": name, "all_tenants": everyone or None}
    list_rows(cli, cli.cinder, "/snapshots/detail", "snapshots", COLUMNS, as_json, params)


@app.command("show")
def show(ctx: typer.Context, snapshot_id: SnapshotId, as_json: JsonOpt = False) -> None:
    """Show a snapshot."""
    SNAPSHOTS.show(state(ctx), snapshot_id, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    replace: NoPropertyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename a snapshot or set its metadata (merged, unless --no-property)."""
    cli = state(ctx)
    fields = {"name": name, "description": description}
    missing = "give --name, --description, --property or --no-property"
    metadata.update(cli, SNAPSHOTS, snapshot_id, fields, prop, replace, as_json, missing=missing)


@app.command("unset")
def unset(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    keys: UnsetKeysOpt,
    as_json: JsonOpt = False,
) -> None:
    """Remove metadata keys from a snapshot."""
    metadata.unset(state(ctx), SNAPSHOTS, snapshot_id, keys, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, snapshot_id: SnapshotId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a snapshot."""
    cli = state(ctx)
    body = cli.cinder.delete(f"/snapshots/{snapshot_id}")
    SNAPSHOTS.deleted(cli, body, snapshot_id, wait, as_json)


@app.command("force-delete")
def force_delete(
    ctx: typer.Context, snapshot_id: SnapshotId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a snapshot whatever its status (admin)."""
    cli = state(ctx)
    body = SNAPSHOTS.action(cli, snapshot_id, {"os-force_delete": {}})
    SNAPSHOTS.deleted(cli, body, snapshot_id, wait, as_json)


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    snapshot_id: SnapshotId,
    status: NewStatusArg,
    as_json: JsonOpt = False,
) -> None:
    """Set a snapshot's status by force (admin)."""
    SNAPSHOTS.reset_status(state(ctx), snapshot_id, status, as_json)


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
    action = {"os-update_snapshot_status": value}
    SNAPSHOTS.report_action(cli, snapshot_id, action, as_json, f"{status} reported")
