"""The `safehold` command tree: global connection options and the client's groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from deployments.client import (
    admin,
    backups,
    config_cmd,
    db_backups,
    db_datastores,
    db_instances,
    policies,
    share_backups,
    shares,
    snapshots,
    volumes,
)
from deployments.client.context import Cli

HELP = (
    "Safehold: the service (run, runner, api, ...) and an operator's client of its API."
    "\n\n"
    "Client settings come from the flags, else the environment (SAFEHOLD_URL, "
    "SAFEHOLD_MANILA_URL, SAFEHOLD_TROVE_URL, SAFEHOLD_PREFECT_URL, SAFEHOLD_PROJECT, "
    "SAFEHOLD_USER, SAFEHOLD_TOKEN, SAFEHOLD_TIMEOUT), else the config file "
    "(SAFEHOLD_CONFIG, default ~/.config/safehold/cli.toml)."
    "\n\n"
    "Without a sub-command the service runs (as `run`)."
)
CLIENT = "Client"
# The global options that take a value (deployments.cli finds the sub-command past them).
VALUE_FLAGS = frozenset(
    {
        "--url",
        "--manila-url",
        "--trove-url",
        "--prefect-url",
        "--project",
        "--user",
        "--token",
        "--config",
        "--timeout",
    }
)


def _opt(flag: str, text: str) -> object:
    return typer.Option(flag, help=text, show_default=False)


Url = Annotated[str | None, _opt("--url", "Main API root (default http://127.0.0.1:8776).")]
ManilaUrl = Annotated[str | None, _opt("--manila-url", "Manila API root (default port 8786).")]
TroveUrl = Annotated[str | None, _opt("--trove-url", "Trove API root (default port 8779).")]
PrefectUrl = Annotated[
    str | None, _opt("--prefect-url", "Prefect API (default port 4200, /api), for --wait.")
]
Project = Annotated[str | None, _opt("--project", "Project id (noauth default: the user).")]
User = Annotated[str | None, _opt("--user", "noauth user (default: admin).")]
Token = Annotated[
    str | None,
    _opt("--token", "Token; visible to local users in the process list: prefer SAFEHOLD_TOKEN."),
]
Config = Annotated[str | None, _opt("--config", "Client config file (TOML).")]
Timeout = Annotated[str | None, _opt("--timeout", "HTTP timeout in seconds (default 30).")]
Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON bodies.")]


def _groups(app: typer.Typer) -> None:
    database = typer.Typer(help="Database instances and backups (Trove).", no_args_is_help=True)
    database.add_typer(db_instances.app, name="instance")
    database.add_typer(db_backups.app, name="backup")
    database.add_typer(db_datastores.app, name="datastore")
    for name, group in (
        ("volume", volumes.app),
        ("snapshot", snapshots.app),
        ("backup", backups.app),
        ("share", shares.app),
        ("share-backup", share_backups.app),
        ("database", database),
        ("policy", policies.app),
        ("catalog", admin.catalog_app),
        ("store", admin.store_app),
        ("config", config_cmd.app),
    ):
        app.add_typer(group, name=name, rich_help_panel=CLIENT)
    app.add_typer(database, name="db", hidden=True)


def build_app(bare: Callable[[], int]) -> typer.Typer:
    """The app; `bare()` runs (its result the exit status) when no sub-command is given."""
    app = typer.Typer(
        help=HELP,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback(invoke_without_command=True)
    def root(
        ctx: typer.Context,
        url: Url = None,
        manila_url: ManilaUrl = None,
        trove_url: TroveUrl = None,
        prefect_url: PrefectUrl = None,
        project: Project = None,
        user: User = None,
        token: Token = None,
        config: Config = None,
        timeout: Timeout = None,
        as_json: Json = False,
    ) -> None:
        flags = {
            "url": url,
            "manila_url": manila_url,
            "trove_url": trove_url,
            "prefect_url": prefect_url,
            "project": project,
            "user": user,
            "token": token,
            "config": config,
            "timeout": timeout,
        }
        cli = Cli(flags, as_json)
        ctx.obj = cli
        ctx.call_on_close(cli.close)
        if ctx.invoked_subcommand is None:
            raise typer.Exit(bare())

    _groups(app)
    return app
