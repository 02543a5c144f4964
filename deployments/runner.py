"""Serve every Safehold flow as a deployment named `safehold` (one runner process).

The fast path (default): the runner claims a run when the server's event stream says it
was scheduled (deployments.pickup) and forks its process from a server that already
imported the flows (deployments.warm). `SAFEHOLD_RUNNER_PICKUP=poll` serves with
Prefect's stock `serve()` instead: a fresh process per run, found by polling.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from types import FrameType
from typing import Final

import anyio
from prefect import serve
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner

from deployments import pickup, warm
from deployments.instance import TREE_MARKER
from deployments.prefect_tls import share_verified_contexts
from flows.registry import DEPLOYMENT, FLOWS

# What `safehold run` has the kernel send the runner when the supervisor dies
# (deployments.instance): unused by Prefect, whose SIGTERM/SIGINT handlers shut down slowly.
PARENT_DIED: Final = signal.SIGHUP
log = logging.getLogger("safehold.runner")


def main() -> None:
    """Register and serve all deployments until interrupted."""
    limit = int(os.environ.get("SAFEHOLD_RUNNER_LIMIT", "4"))
    events = os.environ.get("SAFEHOLD_RUNNER_PICKUP", "events") == "events"
    # How often the runner polls for work: with event pickup only the fallback for a lost
    # event; when polling, each run waits half of it on average, and a shorter one costs
    # idle server CPU (../PREFECT-NOTES: 3.5 % at 1 s, 8 % at 0.2 s). Prefect's own
    # setting takes whole seconds only.
    query_seconds = float(os.environ.get("SAFEHOLD_RUNNER_QUERY_SECONDS", "5" if events else "1"))
    if TREE_MARKER in os.environ:  # started by `safehold run`, which sends PARENT_DIED
        signal.signal(PARENT_DIED, _end_process_group)
    _log_to_stderr()
    share_verified_contexts()
    if not events:
        deployments = [f.to_deployment(name=DEPLOYMENT) for f in FLOWS]
        # No schedules are declared in code, so there is nothing to pause on shutdown.
        serve(
            *deployments,
            limit=limit,
            print_starting_message=False,
            pause_on_shutdown=False,
            query_seconds=query_seconds,
        )
        return
    if os.environ.get("SAFEHOLD_WARM_START", "true").lower() != "false":
        warm.install()
    try:
        asyncio.run(_serve(limit, query_seconds))
    except (KeyboardInterrupt, TerminationSignal) as exc:
        log.info("%s: shutting down", type(exc).__name__)


async def _serve(limit: int, query_seconds: float) -> None:
    """Prefect's runner with every flow registered in memory, so that each run starts
    through the direct starter (where the warm pool sits), plus event pickup."""
    runner = Runner(limit=limit, pause_on_shutdown=False, query_seconds=query_seconds)
    for flow in FLOWS:
        await runner.aadd_flow(flow, name=DEPLOYMENT)
    async with anyio.create_task_group() as group:
        group.start_soon(pickup.follow_events, runner)
        await runner.start()
        group.cancel_scope.cancel()


def _log_to_stderr() -> None:
    """Safehold's own runner lines (pickup, warm hand-offs) to stderr, i.e. runner.log."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("safehold")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def _end_process_group(_signum: int, _frame: FrameType | None) -> None:
    """SIGKILL this runner and its flow-run processes (started in the runner's process
    group, which `safehold run` makes its own), which would otherwise outlive it."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)  # not a group leader: never another's group


if __name__ == "__main__":
    main()
