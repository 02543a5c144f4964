"""`safehold volume`: Cinder volumes (file-backed), including manage-existing."""

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
    ZoneOpt,
    state,
)
from deployments.client.output import Column, when
from deployments.client.parsing import pairs
from deployments.client.waiting import Probe, status_probe

app = typer.Typer(help="Volumes (Cinder v3).", no_args_is_help=True)

VolumeId = Annotated[str, typer.Argument(help="Volume id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Size (GiB)", "size"),
    ("Created", when("created_at")),
)
FIELDS: Final = ("id", "name", "status", "size", "description", "metadata", "created_at")
READY: Final = frozenset({"available", "in-use"})
FAILED: Final = frozenset({"error", "error_managing", "error_restoring", "error_deleting"})


def volume_probe(cli: Cli, volume_id: str, *, gone_ok: bool = False) -> Probe:
    """Until the volume is usable (or gone, for a delete), failing on an error status."""
    return status_probe(
        lambda: cli.cinder.find(f"/volumes/{volume_id}", "volume"),
        ok=frozenset() if gone_ok else READY,
        bad=FAILED,
        gone_ok=gone_ok,
    )


def _finish(cli: Cli, body: dict[str, Any], wait: bool, as_json: bool) -> None:
    volume = body["volume"]
    if not wait:
        cli.out(as_json).record(body, volume, FIELDS)
        return
    reading = cli.follow(volume_probe(cli, volume["id"]), kind="volume", rid=volume["id"])
    final = cli.cinder.get(f"/volumes/{volume['id']}")
    cli.out(as_json).line(final, f"volume {volume['id']} {reading.status}")


@app.command("create")
def create(
    ctx: typer.Context,
    size: Annotated[int, typer.Option("--size", min=1, help="Size in GiB.")] = 1,
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
    body = cli.cinder.post("/volumes", {"volume": {k: v for k, v in spec.items() if v is not None}})
    _finish(cli, body, wait, as_json)


@app.command("list")
def list_(ctx: typer.Context, everyone: AllProjectsOpt = False, as_json: JsonOpt = False) -> None:
    """List volumes."""
    cli = state(ctx)
    body = cli.cinder.get("/volumes/detail", {"all_tenants": everyone or None})
    cli.out(as_json).rows(body, body["volumes"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, volume_id: VolumeId, as_json: JsonOpt = False) -> None:
    """Show a volume (admins see its file as metadata safehold:path)."""
    cli = state(ctx)
    body = cli.cinder.get(f"/volumes/{volume_id}")
    cli.out(as_json).record(body, body["volume"], FIELDS)


@app.command("delete")
def delete(
    ctx: typer.Context, volume_id: VolumeId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a volume and its file."""
    cli = state(ctx)
    body = cli.cinder.delete(f"/volumes/{volume_id}")
    if wait:
        cli.follow(volume_probe(cli, volume_id, gone_ok=True), kind="volume", rid=volume_id)
    cli.out(as_json).line(body, f"volume {volume_id} {'deleted' if wait else 'deleting'}")


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
    body = cli.cinder.post(
        "/manageable_volumes", {"volume": {k: v for k, v in spec.items() if v is not None}}
    )
    _finish(cli, body, wait, as_json)


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
    body = cli.cinder.post(f"/volumes/{volume_id}/action", {"os-reset_status": value})
    cli.out(as_json).line(body, f"volume {volume_id}: status reset")


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
    body = cli.cinder.post(f"/volumes/{volume_id}/action", {"os-attach": value})
    cli.out(as_json).line(body, f"volume {volume_id}: attached")


@app.command("detach")
def detach(
    ctx: typer.Context,
    volume_id: VolumeId,
    attachment: Annotated[str | None, typer.Option("--attachment", help="Attachment id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove an attachment (the volume goes available)."""
    cli = state(ctx)
    body = cli.cinder.post(
        f"/volumes/{volume_id}/action", {"os-detach": {"attachment_id": attachment}}
    )
    cli.out(as_json).line(body, f"volume {volume_id}: detached")
