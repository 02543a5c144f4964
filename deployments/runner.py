"""Serve every Safehold flow as a deployment named `safehold` (one runner process)."""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Final

from prefect import serve

from deployments.instance import TREE_MARKER
from flows.registry import DEPLOYMENT, FLOWS

# What `safehold run` has the kernel send the runner when the supervisor dies
# (deployments.instance): unused by Prefect, whose SIGTERM/SIGINT handlers shut down slowly.
PARENT_DIED: Final = signal.SIGHUP


def main() -> None:
    """Register and serve all deployments until interrupted."""
    limit = int(os.environ.get("SAFEHOLD_RUNNER_LIMIT", "4"))
    # How often the runner asks for work: each run waits half of it on average before it
    # starts; shorter costs idle CPU on the server (../PREFECT-NOTES: 3.5 % at 1 s, 8 % at
    # 0.2 s). Prefect's own setting takes whole seconds only.
    query_seconds = float(os.environ.get("SAFEHOLD_RUNNER_QUERY_SECONDS", "1"))
    if TREE_MARKER in os.environ:  # started by `safehold run`, which sends PARENT_DIED
        signal.signal(PARENT_DIED, _end_process_group)
    deployments = [f.to_deployment(name=DEPLOYMENT) for f in FLOWS]
    # No schedules are declared in code, so there is nothing to pause on shutdown.
    serve(
        *deployments,
        limit=limit,
        print_starting_message=False,
        pause_on_shutdown=False,
        query_seconds=query_seconds,
    )


def _end_process_group(_signum: int, _frame: FrameType | None) -> None:
    """SIGKILL this runner and its flow-run processes (`python -m prefect.engine`, started
    in the runner's process group, which `safehold run` makes its own), which would
    otherwise outlive it."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)  # not a group leader: never another's group


if __name__ == "__main__":
    main()
