"""reconcile: repair rows whose flow run ended (or never started) without telling us.

Run at start-up and on demand. A row in a transitional status is repaired when its
run is in a terminal state, no longer exists, or was never recorded and the row has
been waiting longer than GRACE (the API died between the catalog write and submit).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from prefect import flow, get_client, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from flows import context
from flows.snapshot_tasks import sweep_temp_snapshots
from storage import catalog
from storage.catalog import Row

log = logging.getLogger(__name__)
GRACE = timedelta(minutes=5)
TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


async def _run_end(client: PrefectClient, record: Row, run_id: str | None) -> str | None:
    """The reason to repair `record`, or None while its run may still move it on."""
    if run_id is None:
        waited = catalog.utcnow() - (record.updated_at or record.created_at)
        return "operation was never submitted" if waited > GRACE else None
    try:
        run = await client.read_flow_run(UUID(run_id))
    except ObjectNotFound:
        return catalog.run_end_reason(run_id, None, None)
    if run.state is None or run.state.type.value not in TERMINAL:
        return None
    return catalog.run_end_reason(run_id, run.state.type.value, run.state.message)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
async def repair_stuck_rows() -> int:
    """Move every orphaned transitional row to its terminal error state; idempotent."""
    repaired = 0
    with context.session() as s:
        async with get_client() as client:
            for record in catalog.transitional_rows(session=s):
                run_id = catalog.driving_run(s, record)
                reason = await _run_end(client, record, run_id)
                if reason and catalog.repair_after_run(session=s, record=record, reason=reason):
                    log.warning("%s %s repaired: %s", type(record).__name__, record.id, reason)
                    repaired += 1
    return repaired


@flow(name="reconcile")
async def reconcile() -> int:
    """Repair orphaned rows; returns how many were repaired."""
    repaired = await repair_stuck_rows()
    # After the repair: backups it failed may hold temporary snapshots to remove.
    sweep_temp_snapshots()
    return repaired
