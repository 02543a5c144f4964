"""The `safehold` command: the service's sub-commands and the operator's API client.

Service: run (default), runner, api, rebuild-catalog, progress, and `token` (the tokens
file of auth_mode=tokens, deployments.token_admin). Client: the groups of
deployments.client (volume, snapshot, backup, share, share-backup, database, policy,
catalog, store, config), which talk to the API over HTTP only.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Final

import typer

from deployments import token_admin
from deployments.client.app import VALUE_FLAGS, build_app
from deployments.client.errors import ClientError
from deployments.progress import follow
from storage.settings import Settings

SERVICE: Final = "Service"
SERVICE_COMMANDS: Final = frozenset({"run", "runner", "api", "rebuild-catalog", "progress"})
DEBUG_ENV: Final = "SAFEHOLD_DEBUG"


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


# The service sub-commands import the service stack (FastAPI, Prefect: ~2.5 s) when
# they run, not at import: a client command such as `safehold volume list` starts in
# ~0.2 s instead of ~2.8 s.


def run(settings: Settings) -> int:
    """The `safehold run` process tree (deployments.supervisor.run)."""
    from deployments.supervisor import run as run_tree

    return run_tree(settings)


def _start_problem(settings: Settings) -> str | None:
    """Why the service must not start; checked before any child starts."""
    from api.exposure import exposure_problem
    from api.tokens import TokenFileError, configured_tokens

    try:
        configured_tokens(settings)
    except TokenFileError as exc:
        return str(exc)
    return exposure_problem(settings)


def _refused(settings: Settings) -> bool:
    problem = _start_problem(settings)
    if problem is not None:
        logging.getLogger("safehold").error("refusing to start: %s", problem)
    return problem is not None


def serve_all() -> int:
    """`safehold run`: Prefect server + UI, the flow runner and the API."""
    _logging()
    settings = Settings()
    if _refused(settings):
        return 2
    return run(settings)


app = build_app(serve_all)
app.add_typer(token_admin.app, name="token", rich_help_panel=SERVICE)


@app.command("run", rich_help_panel=SERVICE)
def run_command() -> None:
    """Start Prefect server + UI, the flow runner and the API."""
    raise typer.Exit(serve_all())


@app.command("runner", rich_help_panel=SERVICE)
def runner_command() -> None:
    """Serve the flow deployments only (scale-out worker)."""
    from deployments.runner import main as runner_main

    _logging()
    runner_main()


@app.command("api", rich_help_panel=SERVICE)
def api_command() -> None:
    """Serve the API only."""
    from deployments.api_server import main as api_main

    _logging()
    if _refused(Settings()):
        raise typer.Exit(2)
    api_main()


@app.command("rebuild-catalog", rich_help_panel=SERVICE)
def rebuild_command() -> None:
    """Re-create missing backup rows from the backup store (no Prefect needed)."""
    from deployments.rebuild import main as rebuild_main

    _logging()
    raise typer.Exit(rebuild_main(Settings(), sys.stdout))


@app.command("progress", rich_help_panel=SERVICE)
def progress_command(
    backup_id: str,
    project: Annotated[str, typer.Option("--project", help="Project id of the backup.")],
    user: Annotated[
        str, typer.Option("--user", help="noauth user id (SAFEHOLD_TOKEN wins).")
    ] = "admin",
    url: Annotated[
        str | None, typer.Option("--url", help="API root (default: from SAFEHOLD_HOST/API_PORT).")
    ] = None,
) -> None:
    """Follow a backup's operation with a progress bar (see also `backup progress`)."""
    settings = Settings()
    root = url or f"http://{settings.host}:{settings.api_port}"
    # From the environment, not argv: a command line is visible to every local user.
    token = os.environ.get("SAFEHOLD_TOKEN") or f"{user}:{project}"
    raise typer.Exit(follow(root, project, backup_id, token))


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _is_service(argv: list[str]) -> bool:
    """Whether argv runs a service command (or none: the service), not the client."""
    args = iter(argv)
    for arg in args:
        if arg in VALUE_FLAGS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg in SERVICE_COMMANDS
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status. Client errors are one line on stderr."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="safehold", standalone_mode=True)
    except SystemExit as exc:
        return _exit_status(exc.code)
    except ClientError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except Exception as exc:
        # A client bug is one line (SAFEHOLD_DEBUG=1: the traceback); the service's own
        # failures keep their tracebacks, as before.
        if _is_service(args) or os.environ.get(DEBUG_ENV):
            raise
        sys.stderr.write(f"error: {type(exc).__name__}: {exc} (SAFEHOLD_DEBUG=1 for details)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
