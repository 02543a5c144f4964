"""Child runs a flow starts through a deployment: a policy's backups, retention's deletes.

A child is a run of another served deployment, linked under the starting run in the
Prefect UI, picked up by the runner like an API-started run (its own process, hooks,
cancel). The catalog transition is begun first (a `Started`), the run submitted with an
idempotency key of the row's attempt, and its id recorded on every row it drives; if
Prefect refuses the run the rows go to their failure status, as the API does (api/runs).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Final

from prefect.client.schemas.objects import FlowRun
from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import FlowRunWaitTimeout
from prefect.flow_runs import wait_for_flow_run

from flows import context
from storage import catalog
from storage.catalog.policy_targets import Started

log = logging.getLogger(__name__)

DEPLOYMENT: Final = "safehold"  # every flow is served as "<flow name>/safehold"
# A child that has not ended after this long is reported as failed (it keeps running).
WAIT_SECONDS: Final = 24 * 3600


async def start_child(
    flow_name: str, started: Started, *, run_name: str, tags: Sequence[str]
) -> str:
    """Submit the run driving ``started`` and record its id on its rows; the run id.

    Raises what Prefect raised after failing the rows with the reason."""
    record = started.record
    try:
        child = await arun_deployment(
            f"{flow_name}/{DEPLOYMENT}",
            parameters=started.parameters,
            timeout=0,
            idempotency_key=f"{flow_name}:{record.id}:{record.op_token or uuid.uuid4()}",
            flow_run_name=run_name,
            tags=list(tags),
            as_subflow=True,
        )
    except Exception:
        reason = f"could not start {flow_name}: the orchestrator is unavailable"
        with context.session() as s:
            for row in started.rows or [record]:
                catalog.repair_after_run(session=s, record=row, reason=reason)
        raise
    run_id = str(child.id)
    with context.session() as s:
        for row in started.rows or [record]:
            fresh = s.get(type(row), row.id)
            if fresh is not None:
                catalog.attach_flow_run(session=s, record=fresh, flow_run_id=run_id)
    log.info("%s %s driven by child run %s", flow_name, record.id, run_id)
    return run_id


async def wait_child(run_id: str) -> str:
    """The child's final state type ("COMPLETED", "FAILED", ...); "TIMEOUT" if it has
    not ended within WAIT_SECONDS."""
    try:
        run: FlowRun = await wait_for_flow_run(uuid.UUID(run_id), timeout=WAIT_SECONDS)
    except FlowRunWaitTimeout:
        return "TIMEOUT"
    return run.state.type.value if run.state is not None else "SCHEDULED"
