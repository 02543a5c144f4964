"""After a crash of the whole tree: runs whose process is gone end Crashed.

A SIGKILL of every process (a power cut) leaves the runs it was executing `Running` in
Prefect forever: no process is left to report, and the served runner has no heartbeat
watchdog. At start-up, once no process of the earlier tree is left (deployments.instance),
any run of Safehold's deployments that is still Pending, Running or Cancelling on the
embedded server can only be such an orphan: it is set Crashed, and the start-up
reconcile then settles its rows as for any crashed run (docs/states.md).
"""

from __future__ import annotations

import logging
from typing import Final

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Crashed

from flows.registry import DEPLOYMENT, FLOWS

log = logging.getLogger("safehold")

ORPHANED: Final = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
_PAGE: Final = 100
MESSAGE: Final = "the process running it is gone: safehold run restarted after a crash"


async def crash_orphaned_runs(api_url: str) -> list[str]:
    """Set every unfinished run of our deployments Crashed; the run ids. Idempotent.

    Call only when no process that could be executing them is alive.
    """
    async with PrefectClient(api_url) as client:
        ids = []
        for served in FLOWS:
            try:
                deployment = await client.read_deployment_by_name(f"{served.name}/{DEPLOYMENT}")
            except Exception:  # never served yet (a fresh Prefect database): nothing to do
                continue
            ids.append(deployment.id)
        if not ids:
            return []
        crashed: list[str] = []
        while True:  # each pass finds the runs not crashed yet, a page at a time
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ORPHANED))
                ),
                limit=_PAGE,
            )
            for run in runs:
                await client.set_flow_run_state(run.id, Crashed(message=MESSAGE), force=True)
                log.warning(
                    "flow run %s (%s): crashed with the earlier process tree", run.id, run.name
                )
                crashed.append(str(run.id))
            if len(runs) < _PAGE:
                return crashed
