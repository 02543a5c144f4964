"""The `safehold` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from api.exposure import exposure_problem
from api.tokens import TokenFileError, configured_tokens
from deployments.api_server import main as api_main
from deployments.progress import follow
from deployments.rebuild import main as rebuild_main
from deployments.runner import main as runner_main
from deployments.supervisor import run
from storage.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen sub-command."""
    parser = argparse.ArgumentParser(prog="safehold", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="start Prefect server + UI, the flow runner and the API")
    sub.add_parser("runner", help="serve the flow deployments only (scale-out worker)")
    sub.add_parser("api", help="serve the API only")
    sub.add_parser(
        "rebuild-catalog",
        help="re-create missing backup rows from the backup store (no Prefect needed)",
    )
    watch = sub.add_parser("progress", help="follow a backup's operation with a progress bar")
    watch.add_argument("backup_id")
    watch.add_argument("--project", required=True, help="project id of the backup")
    watch.add_argument(
        "--user", default="admin", help="noauth user id (default: admin; SAFEHOLD_TOKEN wins)"
    )
    watch.add_argument("--url", help="API root (default: from SAFEHOLD_HOST/API_PORT)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command in (None, "run", "api"):
        problem = _start_problem(Settings())
        if problem is not None:
            logging.getLogger("safehold").error("refusing to start: %s", problem)
            return 2
    if args.command in (None, "run"):
        return run(Settings())
    if args.command == "progress":
        settings = Settings()
        url = args.url or f"http://{settings.host}:{settings.api_port}"
        # From the environment, not argv: a command line is visible to every local user.
        token = os.environ.get("SAFEHOLD_TOKEN") or f"{args.user}:{args.project}"
        return follow(url, args.project, args.backup_id, token)
    if args.command == "rebuild-catalog":
        return rebuild_main(Settings(), sys.stdout)
    if args.command == "runner":
        runner_main()
        return 0
    api_main()
    return 0


def _start_problem(settings: Settings) -> str | None:
    """Why the service must not start; checked before any child starts."""
    try:
        configured_tokens(settings)
    except TokenFileError as exc:
        return str(exc)
    return exposure_problem(settings)


if __name__ == "__main__":
    sys.exit(main())
