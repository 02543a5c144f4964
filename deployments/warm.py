"""Flow-run processes forked from a warm fork server instead of started cold.

A fresh flow-run process spends 1.1 s (idle machine) to 2.5 s (busy one) importing
prefect and the flows before the flow body starts (../PREFECT-NOTES "Start latency").
A fork server (multiprocessing's "forkserver") imports them once, while idle; each run
is a fork of it, running its flow run like Prefect's own spawned process would (same
environment, control channel, signal handling, exit codes) and exiting, so crash, cancel
and retry behave as they do for a fresh process. The runner's supervision is kept:
`install` swaps the function Prefect's direct starter calls to spawn the process
(`prefect.runner._starter_direct.run_flow_in_subprocess`, "patch the module to override"
says its docstring) for one that forks from the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from multiprocessing import forkserver, get_context
from typing import Any, Final

log = logging.getLogger("safehold.warm")

# The name Prefect's direct starter calls to spawn a flow-run process.
SEAM: Final = "run_flow_in_subprocess"
# What the fork server imports before it forks anything: the flows, and what Prefect's
# engine imports only when a run starts.
PRELOAD: Final = [
    "flows.registry",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.engine",
    "prefect._internal.control_listener",
    "deployments.forkprep",  # last: prepares a first task's work and freezes the heap
]
# What Prefect's own spawn path sets for the child (prefect.flow_engine.run_flow_in_subprocess):
# the runner, not the child, runs on_cancellation / on_crashed hooks.
CHILD_ENV: Final = {"PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false"}


def starter(fallback: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for Prefect's `run_flow_in_subprocess(flow, flow_run=, env=)` that forks
    the run from the warm server; `fallback` (Prefect's own) for calls it does not know."""
    ctx = get_context("forkserver")

    def run_flow_warm(
        flow: Any, flow_run: Any = None, env: dict[str, str | None] | None = None, **kw: Any
    ) -> Any:
        if flow_run is None or kw:
            return fallback(flow, flow_run=flow_run, env=env, **kw)
        process = ctx.Process(
            target=_run,
            args=(flow.name, flow_run.model_dump_json(), {**CHILD_ENV, **(env or {})}),
            name=f"flow-run-{flow_run.id}",
        )
        process.start()
        log.info("flow run %s forked from the warm server as process %s", flow_run.id, process.pid)
        return process

    return run_flow_warm


def install() -> None:
    """Start the fork server now (it imports while nothing waits) and make the runner's
    direct starter fork from it; idempotent."""
    from prefect.runner import _starter_direct

    current = getattr(_starter_direct, SEAM)
    if getattr(current, "__name__", "") == "run_flow_warm":
        return
    get_context("forkserver").set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()
    setattr(_starter_direct, SEAM, starter(current))


def _run(flow_name: str, flow_run_json: str, env: dict[str, str | None]) -> None:
    """Child: run one flow run as Prefect's spawned child does: its environment, the
    control channel, a settings context that sees that environment, Prefect's signal
    handling (exit codes: 0 ended, 1 failed outside the engine)."""
    from prefect._internal.control_listener import configure_from_env
    from prefect.client.schemas.objects import FlowRun
    from prefect.context import SettingsContext, get_settings_context
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import run_flow
    from prefect.settings import Settings

    from flows.registry import FLOWS

    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    configure_from_env()  # consumes (and removes) the control-channel variables
    flow = next(f for f in FLOWS if f.name == flow_name)
    flow_run = FlowRun.model_validate_json(flow_run_json)
    with (
        SettingsContext(profile=get_settings_context().profile, settings=Settings()),
        handle_engine_signals(flow_run.id),
    ):
        outcome = run_flow(flow, flow_run=flow_run)
        if asyncio.iscoroutine(outcome):
            asyncio.run(outcome)
