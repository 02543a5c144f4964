"""Serve every Safehold flow as a deployment named `safehold` (one runner process)."""

from __future__ import annotations

import os

from prefect import serve

from flows.registry import DEPLOYMENT, FLOWS


def main() -> None:
    """Register and serve all deployments until interrupted."""
    limit = int(os.environ.get("SAFEHOLD_RUNNER_LIMIT", "4"))
    deployments = [f.to_deployment(name=DEPLOYMENT) for f in FLOWS]
    # No schedules are declared in code, so there is nothing to pause on shutdown.
    serve(*deployments, limit=limit, print_starting_message=False, pause_on_shutdown=False)


if __name__ == "__main__":
    main()
