"""After a crash of the whole tree: runs whose process is gone end Crashed.

A SIGKILL of every process (a power cut, or `kill -9` of the supervisor, whose children
follow it: deployments.instance) leaves the runs it was executing `Running` in Prefect
forever: no process is left to report, and served runs carry no `infrastructure_pid`
(Prefect 3.8's runner never sets one) that could be checked. The embedded Prefect server
belongs to one data dir, and one supervisor holds that data dir at a time; so at start-up,
once no process of the earlier tree is left (``stop_leftovers``) and before the runner
starts, any run of Safehold's deployments still Pending, Running or Cancelling on it can
only be such an orphan. It is set Crashed; the start-up reconcile (and the API, when it
shows the row) then settles its rows as for any crashed run (docs/states.md).
"""

from __future__ import annotations

import logging
from typing import Final
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed

from flows.registry import DEPLOYMENT, FLOWS

log = logging.getLogger("safehold")

ORPHANED: Final = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
MESSAGE: Final = "the process running it is gone: safehold run restarted after a crash"
_PAGE: Final = 100


async def crash_orphaned_runs(api_url: str) -> list[str]:
    """Set every unfinished run of our deployments Crashed; the run ids. Idempotent.

    Call only when no process that could be executing them is alive.
    """
    async with PrefectClient(api_url) as client:
        deployments = await _our_deployments(client)
        if not deployments:
            return []
        crashed: list[str] = []
        while True:  # each pass reads the runs not crashed yet, a page at a time
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployments)),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ORPHANED))
                ),
                limit=_PAGE,
            )
            fresh = [run for run in runs if str(run.id) not in crashed]
            for run in fresh:
                await client.set_flow_run_state(run.id, Crashed(message=MESSAGE), force=True)
                log.warning("flow run %s (%s) crashed with the earlier tree", run.id, run.name)
                crashed.append(str(run.id))
            if len(runs) < _PAGE or not fresh:
                return crashed


async def _our_deployments(client: PrefectClient) -> list[UUID]:
    """Ids of the deployments Safehold serves that exist (none on a fresh server)."""
    ids = []
    for served in FLOWS:
        try:
            deployment = await client.read_deployment_by_name(f"{served.name}/{DEPLOYMENT}")
        except ObjectNotFound:
            continue
        ids.append(deployment.id)
    return ids
