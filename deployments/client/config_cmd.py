"""`safehold config show`: the resolved client configuration and where each value came from."""

from __future__ import annotations

import typer

from deployments.client.config import SETTINGS
from deployments.client.context import state
from deployments.client.options import JsonOpt

app = typer.Typer(help="The client's own configuration.", no_args_is_help=True)


def masked(token: str, origin: str) -> str:
    """A token as shown: the derived noauth `user:project` is no secret, a given one is."""
    return token if origin.startswith("default") else f"<given, {len(token)} characters>"


@app.command("show")
def show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show each setting, its value (the token masked) and its origin."""
    cli = state(ctx)
    config = cli.config
    rows = []
    for name in SETTINGS:
        value = getattr(config, name)
        origin = config.origins.get(name, "")
        shown = masked(value, origin) if name == "token" else value
        rows.append({"setting": name, "value": shown, "origin": origin})
    body = {"config": {row["setting"]: row["value"] for row in rows}}
    columns = (("Setting", "setting"), ("Value", "value"), ("Origin", "origin"))
    cli.out(as_json).rows(body, rows, columns)
