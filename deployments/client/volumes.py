"""`safehold volume`: Cinder volumes (file-backed), including manage-existing."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import state
from deployments.client.options import (
    AllProjectsOpt,
    DescriptionOpt,
    JsonOpt,
    NameOpt,
    PropertyOpt,
    SizeOpt,
    WaitOpt,
    ZoneOpt,
)
from deployments.client.output import ID_NAME_STATUS, Column, when
from deployments.client.parsing import given, pairs
from deployments.client.resources import Resource, list_rows

app = typer.Typer(help="Volumes (Cinder v3).", no_args_is_help=True)

VolumeId = Annotated[str, typer.Argument(help="Volume id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Size (GiB)", "size"),
    ("Created", when("created_at")),
)
VOLUMES: Final = Resource(
    api=lambda cli: cli.cinder,
    path="/volumes",
    key="volume",
    kind="volume",
    fields=("id", "name", "status", "size", "description", "metadata", "created_at"),
    ready=frozenset({"available", "in-use"}),
    failed=frozenset({"error", "error_managing", "error_restoring", "error_deleting"}),
)


@app.command("create")
def create(
    ctx: typer.Context,
    size: SizeOpt = 1,
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    zone: ZoneOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an empty volume."""
    cli = state(ctx)
    spec: dict[str, Any] = {"size": size, "name": name, "description": description}
    spec |= {"metadata": pairs(prop), "availability_zone": zone}
    body = cli.cinder.post("/volumes", {"volume": given(spec)})
    VOLUMES.created(cli, body, wait, as_json)


@app.command("list")
def list_(ctx: typer.Context, everyone: AllProjectsOpt = False, as_json: JsonOpt = False) -> None:
    """List volumes."""
    cli = state(ctx)
    params = {"all_tenants": everyone or None}
    list_rows(cli, cli.cinder, "/volumes/detail", "volumes", COLUMNS, as_json, params)


@app.command("show")
def show(ctx: typer.Context, volume_id: VolumeId, as_json: JsonOpt = False) -> None:
    """Show a volume (admins see its file as metadata safehold:path)."""
    VOLUMES.show(state(ctx), volume_id, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, volume_id: VolumeId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a volume and its file."""
    cli = state(ctx)
    body = cli.cinder.delete(f"/volumes/{volume_id}")
    VOLUMES.deleted(cli, body, volume_id, wait, as_json)


@app.command("manage")
def manage(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Absolute path of the file or device.")],
    host: Annotated[str, typer.Option("--host", help="Cinder host (unused).")] = "safehold",
    name: NameOpt = None,
    description: DescriptionOpt = None,
    prop: PropertyOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Register an existing file or block device as a volume (admin)."""
    cli = state(ctx)
    spec: dict[str, Any] = {"ref": {"source-name": path}, "host": host, "name": name}
    spec |= {"description": description, "metadata": pairs(prop)}
    body = cli.cinder.post("/manageable_volumes", {"volume": given(spec)})
    VOLUMES.created(cli, body, wait, as_json)


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    volume_id: VolumeId,
    status: Annotated[str | None, typer.Option("--status", help="New status.")] = None,
    attach_status: Annotated[
        str | None, typer.Option("--attach-status", help="attached or detached.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a volume's status by force (admin)."""
    cli = state(ctx)
    value = {k: v for k, v in (("status", status), ("attach_status", attach_status)) if v}
    VOLUMES.report_action(cli, volume_id, {"os-reset_status": value}, as_json, "status reset")


@app.command("attach")
def attach(
    ctx: typer.Context,
    volume_id: VolumeId,
    mountpoint: Annotated[str, typer.Option("--mountpoint", help="Device path, e.g. /dev/vdb.")],
    instance: Annotated[str | None, typer.Option("--instance", help="Server UUID.")] = None,
    host_name: Annotated[str | None, typer.Option("--host-name", help="Host name.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="rw or ro.")] = "rw",
    as_json: JsonOpt = False,
) -> None:
    """Record an attachment (the volume goes in-use)."""
    cli = state(ctx)
    value: dict[str, Any] = {"mountpoint": mountpoint, "mode": mode}
    value |= {k: v for k, v in (("instance_uuid", instance), ("host_name", host_name)) if v}
    VOLUMES.report_action(cli, volume_id, {"os-attach": value}, as_json, "attached")


@app.command("detach")
def detach(
    ctx: typer.Context,
    volume_id: VolumeId,
    attachment: Annotated[str | None, typer.Option("--attachment", help="Attachment id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove an attachment (the volume goes available)."""
    value = {"os-detach": {"attachment_id": attachment}}
    VOLUMES.report_action(state(ctx), volume_id, value, as_json, "detached")
