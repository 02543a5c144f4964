"""`safehold database datastore`: the database servers Safehold is configured with."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from deployments.client.context import state
from deployments.client.options import JsonOpt
from deployments.client.output import Column
from deployments.client.resources import Resource, list_rows

app = typer.Typer(help="Datastores (Trove v1.0).", no_args_is_help=True)

Datastore = Annotated[str, typer.Argument(help="Datastore type or id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Versions", lambda row: ", ".join(v["name"] for v in row["versions"])),
)
DATASTORES: Final = Resource(
    api=lambda cli: cli.trove, path="/datastores", key="datastore", kind="datastore"
)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List datastores (a server that cannot be reached has no versions)."""
    cli = state(ctx)
    list_rows(cli, cli.trove, "/datastores", "datastores", COLUMNS, as_json)


@app.command("show")
def show(ctx: typer.Context, datastore: Datastore, as_json: JsonOpt = False) -> None:
    """Show a datastore."""
    DATASTORES.show(state(ctx), datastore, as_json)


@app.command("versions")
def versions(ctx: typer.Context, datastore: Datastore, as_json: JsonOpt = False) -> None:
    """List a datastore's versions (the server's real one)."""
    cli = state(ctx)
    path = f"{DATASTORES.url(datastore)}/versions"
    columns: tuple[Column, ...] = (("ID", "id"), ("Name", "name"), ("Active", "active"))
    list_rows(cli, cli.trove, path, "versions", columns, as_json)
