"""`safehold catalog rebuild` and `safehold store garbage`: Safehold's /v1 admin runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from deployments.client.context import state
from deployments.client.options import JsonOpt, WaitOpt
from deployments.client.runs import report_run

catalog_app = typer.Typer(help="The backup catalog (admin).", no_args_is_help=True)
store_app = typer.Typer(help="The backup store (admin).", no_args_is_help=True)


@catalog_app.command("rebuild")
def rebuild(ctx: typer.Context, wait: WaitOpt = False, as_json: JsonOpt = False) -> None:
    """Re-create missing catalog rows from the backup store, in a flow run."""
    cli = state(ctx)
    body = cli.native.post("/catalog/rebuild")
    report_run(cli, body, body["rebuild"]["flow_run_id"], "rebuild-catalog run", wait, as_json)


@store_app.command("garbage")
def garbage(
    ctx: typer.Context,
    grace_hours: Annotated[
        float | None, typer.Option("--grace-hours", help="Keep data younger (default 24).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove store data no catalog row reads, in a flow run."""
    cli = state(ctx)
    spec: dict[str, Any] = {"dry_run": dry_run}
    if grace_hours is not None:
        spec["grace_hours"] = grace_hours
    body = cli.native.post("/store/garbage", spec)
    report_run(cli, body, body["garbage"]["flow_run_id"], "collect-garbage run", wait, as_json)
