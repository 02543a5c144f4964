"""`safehold share`: Manila shares (directory trees), including manage/unmanage."""

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

app = typer.Typer(help="Shares (Manila v2).", no_args_is_help=True)

ShareId = Annotated[str, typer.Argument(help="Share id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Size (GiB)", "size"),
    ("Protocol", "share_proto"),
    ("Created", when("created_at")),
)
FIELDS: Final = ("id", "name", "status", "size", "share_proto", "description", "metadata")
FAILED: Final = frozenset(
    {"error", "error_deleting", "manage_error", "unmanage_error", "backup_restoring_error"}
)


def share_probe(cli: Cli, share_id: str, *, gone_ok: bool = False) -> Probe:
    """Until the share is available (or gone, for a delete or unmanage)."""
    return status_probe(
        lambda: cli.manila.find(f"/shares/{share_id}", "share"),
        ok=frozenset() if gone_ok else frozenset({"available"}),
        bad=FAILED,
        gone_ok=gone_ok,
    )


def _finish(cli: Cli, body: dict[str, Any], wait: bool, as_json: bool) -> None:
    share = body["share"]
    if not wait:
        cli.out(as_json).record(body, share, FIELDS)
        return
    reading = cli.follow(share_probe(cli, share["id"]), kind="share", rid=share["id"])
    final = cli.manila.get(f"/shares/{share['id']}")
    cli.out(as_json).line(final, f"share {share['id']} {reading.status}")


def _gone(cli: Cli, share_id: str, wait: bool) -> bool:
    """Follow a delete or unmanage when asked; whether it was followed to its end."""
    if wait:
        cli.follow(share_probe(cli, share_id, gone_ok=True), kind="share", rid=share_id)
    return wait


@app.command("create")
def create(
    ctx: typer.Context,
    size: Annotated[int, typer.Option("--size", min=1, help="Size in GiB.")] = 1,
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
    body = cli.manila.post("/shares", {"share": {k: v for k, v in spec.items() if v is not None}})
    _finish(cli, body, wait, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    name: NameOpt = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    everyone: AllProjectsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List shares."""
    cli = state(ctx)
    params = {"name": name, "status": status, "all_tenants": 1 if everyone else None}
    body = cli.manila.get("/shares/detail", params)
    cli.out(as_json).rows(body, body["shares"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, share_id: ShareId, as_json: JsonOpt = False) -> None:
    """Show a share."""
    cli = state(ctx)
    body = cli.manila.get(f"/shares/{share_id}")
    cli.out(as_json).record(body, body["share"], FIELDS)


@app.command("update")
def update(
    ctx: typer.Context,
    share_id: ShareId,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    public: Annotated[bool | None, typer.Option("--public/--private")] = None,
    prop: PropertyOpt = None,
    replace: Annotated[
        bool, typer.Option("--no-property", help="Replace all metadata by the --property items.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename a share, make it public/private, or set its metadata."""
    cli = state(ctx)
    body: dict[str, Any] = {}
    spec = {"name": name, "description": description, "is_public": public}
    fields = {k: v for k, v in spec.items() if v is not None}
    if fields:
        body = cli.manila.put(f"/shares/{share_id}", {"share": fields})
    metadata = pairs(prop)
    if metadata is not None or replace:
        method = cli.manila.put if replace else cli.manila.post
        body = method(f"/shares/{share_id}/metadata", {"metadata": metadata or {}})
    if not body:
        raise typer.BadParameter("give --name, --description, --public/--private or --property")
    cli.out(as_json).line(body, f"share {share_id} updated")


@app.command("unset")
def unset(
    ctx: typer.Context,
    share_id: ShareId,
    keys: Annotated[list[str], typer.Option("--property", metavar="KEY", help="Key to remove.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove metadata keys from a share."""
    cli = state(ctx)
    for key in keys:
        cli.manila.delete(f"/shares/{share_id}/metadata/{key}")
    body = cli.manila.get(f"/shares/{share_id}/metadata")
    cli.out(as_json).line(body, f"share {share_id}: removed {', '.join(keys)}")


@app.command("delete")
def delete(
    ctx: typer.Context, share_id: ShareId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a share and its tree (its backups are kept)."""
    cli = state(ctx)
    body = cli.manila.delete(f"/shares/{share_id}")
    done = _gone(cli, share_id, wait)
    cli.out(as_json).line(body, f"share {share_id} {'deleted' if done else 'deleting'}")


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
    body = cli.manila.post(
        "/shares/manage", {"share": {k: v for k, v in spec.items() if v is not None}}
    )
    _finish(cli, body, wait, as_json)


@app.command("unmanage")
def unmanage(
    ctx: typer.Context, share_id: ShareId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Forget a share, keeping its tree (admin)."""
    cli = state(ctx)
    body = cli.manila.post(f"/shares/{share_id}/action", {"unmanage": None})
    done = _gone(cli, share_id, wait)
    cli.out(as_json).line(body, f"share {share_id} {'unmanaged' if done else 'unmanaging'}")


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    share_id: ShareId,
    status: Annotated[str, typer.Argument(help="New status.")],
    as_json: JsonOpt = False,
) -> None:
    """Set a share's status by force (admin)."""
    cli = state(ctx)
    body = cli.manila.post(f"/shares/{share_id}/action", {"reset_status": {"status": status}})
    cli.out(as_json).line(body, f"share {share_id}: status reset to {status}")


@app.command("export-locations")
def export_locations(ctx: typer.Context, share_id: ShareId, as_json: JsonOpt = False) -> None:
    """Where a share's tree is (admin)."""
    cli = state(ctx)
    body = cli.manila.get(f"/shares/{share_id}/export_locations")
    columns: tuple[Column, ...] = (("ID", "id"), ("Path", "path"), ("Preferred", "preferred"))
    cli.out(as_json).rows(body, body["export_locations"], columns)
