"""`safehold share`: Manila shares (directory trees), including manage/unmanage."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client import metadata
from deployments.client.context import state
from deployments.client.options import (
    AllProjectsOpt,
    DescriptionOpt,
    JsonOpt,
    NameOpt,
    NewStatusArg,
    NoPropertyOpt,
    PropertyOpt,
    SizeOpt,
    StatusFilterOpt,
    UnsetKeysOpt,
    WaitOpt,
)
from deployments.client.output import ID_NAME_STATUS, Column, when
from deployments.client.parsing import given, pairs
from deployments.client.resources import Resource, list_rows

app = typer.Typer(help="Shares (Manila v2).", no_args_is_help=True)

ShareId = Annotated[str, typer.Argument(help="Share id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Size (GiB)", "size"),
    ("Protocol", "share_proto"),
    ("Created", when("created_at")),
)
SHARES: Final = Resource(
    api=lambda cli: cli.manila,
    path="/shares",
    key="share",
    kind="share",
    fields=("id", "name", "status", "size", "share_proto", "description", "metadata"),
    ready=frozenset({"available"}),
    failed=frozenset(
        {"error", "error_deleting", "manage_error", "unmanage_error", "backup_restoring_error"}
    ),
)


@app.command("create")
def create(
    ctx: typer.Context,
    size: SizeOpt = 1,
    protocol: Annotated[str, typer.Option("--protocol", help="NFS, CIFS, CEPHFS, ...")] = "NFS",
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    public: Annotated[bool, typer.Option("--public", help="Mark it public.")] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an empty share."""
    cli = state(ctx)
    spec: dict[str, Any] = {"share_proto": protocol, "size": size, "name": name}
    spec["description"] = description
    spec |= {"metadata": pairs(prop), "is_public": public}
    body = cli.manila.post("/shares", {"share": given(spec)})
    SHARES.created(cli, body, wait, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    name: NameOpt = None,
    status: StatusFilterOpt = None,
    everyone: AllProjectsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List shares."""
    cli = state(ctx)
    params = {"name": name, "status": status, "all_tenants": 1 if everyone else None}
    list_rows(cli, cli.manila, "/shares/detail", "shares", COLUMNS, as_json, params)


@app.command("show")
def show(ctx: typer.Context, share_id: ShareId, as_json: JsonOpt = False) -> None:
    """Show a share."""
    SHARES.show(state(ctx), share_id, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    share_id: ShareId,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    public: Annotated[bool | None, typer.Option("--public/--private")] = None,
    prop: PropertyOpt = None,
    replace: NoPropertyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename a share, make it public/private, or set its metadata."""
    cli = state(ctx)
    fields = {"name": name, "description": description, "is_public": public}
    missing = "give --name, --description, --public/--private or --property"
    metadata.update(cli, SHARES, share_id, fields, prop, replace, as_json, missing=missing)


@app.command("unset")
def unset(
    ctx: typer.Context,
    share_id: ShareId,
    keys: UnsetKeysOpt,
    as_json: JsonOpt = False,
) -> None:
    """Remove metadata keys from a share."""
    metadata.unset(state(ctx), SHARES, share_id, keys, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, share_id: ShareId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a share and its tree (its backups are kept)."""
    cli = state(ctx)
    body = cli.manila.delete(f"/shares/{share_id}")
    SHARES.deleted(cli, body, share_id, wait, as_json)


@app.command("manage")
def manage(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Directory under a share root.")],
    protocol: Annotated[str, typer.Option("--protocol")] = "NFS",
    host: Annotated[str, typer.Option("--service-host", help="(unused)")] = "safehold",
    name: NameOpt = None,
    description: DescriptionOpt = None,
    public: Annotated[bool, typer.Option("--public")] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Register an existing directory as a share (admin)."""
    cli = state(ctx)
    spec: dict[str, Any] = {"protocol": protocol, "export_path": path, "name": name}
    spec["service_host"] = host
    spec |= {"description": description, "is_public": public}
    body = cli.manila.post("/shares/manage", {"share": given(spec)})
    SHARES.created(cli, body, wait, as_json)


@app.command("unmanage")
def unmanage(
    ctx: typer.Context, share_id: ShareId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Forget a share, keeping its tree (admin)."""
    cli = state(ctx)
    body = SHARES.action(cli, share_id, {"unmanage": None})
    SHARES.deleted(cli, body, share_id, wait, as_json, words=("unmanaged", "unmanaging"))


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    share_id: ShareId,
    status: NewStatusArg,
    as_json: JsonOpt = False,
) -> None:
    """Set a share's status by force (admin)."""
    SHARES.reset_status(state(ctx), share_id, status, as_json, action="reset_status")


@app.command("export-locations")
def export_locations(ctx: typer.Context, share_id: ShareId, as_json: JsonOpt = False) -> None:
    """Where a share's tree is (admin)."""
    cli = state(ctx)
    path = f"/shares/{share_id}/export_locations"
    columns: tuple[Column, ...] = (("ID", "id"), ("Path", "path"), ("Preferred", "preferred"))
    list_rows(cli, cli.manila, path, "export_locations", columns, as_json)
