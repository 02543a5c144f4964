"""`safehold database datastore`: the database servers Safehold is configured with."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from deployments.client.context import JsonOpt, state
from deployments.client.output import Column

app = typer.Typer(help="Datastores (Trove v1.0).", no_args_is_help=True)

Datastore = Annotated[str, typer.Argument(help="Datastore type or id.")]
COLUMNS: Final[tuple[Column, ...]] = (
    ("ID", "id"),
    ("Name", "name"),
    ("Versions", lambda row: ", ".join(v["name"] for v in row["versions"])),
)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List datastores (a server that cannot be reached has no versions)."""
    cli = state(ctx)
    body = cli.trove.get("/datastores")
    cli.out(as_json).rows(body, body["datastores"], COLUMNS)


@app.command("show")
def show(ctx: typer.Context, datastore: Datastore, as_json: JsonOpt = False) -> None:
    """Show a datastore."""
    cli = state(ctx)
    body = cli.trove.get(f"/datastores/{datastore}")
    cli.out(as_json).record(body, body["datastore"])


@app.command("versions")
def versions(ctx: typer.Context, datastore: Datastore, as_json: JsonOpt = False) -> None:
    """List a datastore's versions (the server's real one)."""
    cli = state(ctx)
    body = cli.trove.get(f"/datastores/{datastore}/versions")
    columns: tuple[Column, ...] = (("ID", "id"), ("Name", "name"), ("Active", "active"))
    cli.out(as_json).rows(body, body["versions"], columns)
