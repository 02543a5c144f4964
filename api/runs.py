"""Flow runs as seen from route code: start one for a row's transition, read states.

Routes are plain functions run in worker threads (the catalog session is blocking);
the launcher is async and lives on the event loop, so calls hop over with anyio.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, Final

import anyio
from anyio import from_thread
from sqlmodel import Session

from api.launcher import DEPLOYMENT_NAMES, Launcher, LaunchError, RunState
from api.schedules import ScheduleSpec, ScheduleState
from storage.catalog import Row, attach_flow_run, repair_after_run
from storage.catalog.kinds import kind_of
from storage.catalog.labels import run_name, run_tags

logger = logging.getLogger(__name__)

# Rendering must not hang on a slow orchestrator: unread states show the catalog's.
STATE_READ_TIMEOUT: Final = 3.0


def flow_name(operation: str) -> str:
    """The flow behind an operation key, e.g. "create_backup" -> "create-backup"."""
    return DEPLOYMENT_NAMES[operation].partition("/")[0]


class Runs:
    """Synchronous face of the Launcher for code running in a worker thread."""

    def __init__(self, launcher: Launcher) -> None:
        self._launcher = launcher

    def start(
        self,
        operation: str,
        *,
        resource_id: str,
        attempt: str,
        parameters: dict[str, Any],
        name: str | None = None,
        tags: Collection[str] = (),
    ) -> str:
        """Submit the operation's deployment for one attempt on a resource; the run id.

        The run is named ``name`` (default "<flow> <resource_id>") and tagged ``tags``."""
        flow = flow_name(operation)
        submit = functools.partial(
            self._launcher.submit,
            DEPLOYMENT_NAMES[operation],
            parameters=parameters,
            idempotency_key=f"{flow}:{resource_id}:{attempt}",
            run_name=name or f"{flow} {resource_id}",
            tags=tuple(tags),
        )
        return from_thread.run(submit)

    def cancel(self, run_id: str | None, reason: str) -> None:
        """Ask a live run to stop, best effort: a run that missed it still stops at its
        next ownership check, since its row has already been taken from it."""
        if run_id is None:
            return
        try:
            from_thread.run(self._launcher.cancel, run_id, reason)
        except LaunchError:
            logger.warning("flow run %s: cancellation not delivered (%s)", run_id, reason)
            return
        logger.info("flow run %s: cancellation requested: %s", run_id, reason)

    def schedules(self) -> dict[str, ScheduleState]:
        """Every policy schedule Prefect holds, by slug; LaunchError."""
        return from_thread.run(self._launcher.read_schedules)

    def put_schedule(self, policy_id: str, spec: ScheduleSpec, active: bool) -> ScheduleState:
        """Create or replace a policy's schedule; LaunchError."""
        return from_thread.run(self._launcher.put_schedule, policy_id, spec, active)

    def next_runs(self) -> dict[str, datetime]:
        """The next scheduled run of each policy, by id; LaunchError."""
        return from_thread.run(self._launcher.next_runs)

    def set_schedule_active(self, policy_id: str, active: bool) -> bool:
        """Pause or resume a policy's schedule; False when Prefect has none; LaunchError."""
        return from_thread.run(self._launcher.set_schedule_active, policy_id, active)

    def delete_schedule(self, policy_id: str) -> None:
        """Remove a policy's schedule; LaunchError."""
        from_thread.run(self._launcher.delete_schedule, policy_id)

    def states(self, run_ids: Collection[str]) -> dict[str, RunState | None]:
        """States of the runs, read concurrently; runs that could not be read are absent."""
        return from_thread.run(self._read_states, sorted(set(run_ids)))

    async def _read_states(self, run_ids: list[str]) -> dict[str, RunState | None]:
        found: dict[str, RunState | None] = {}

        async def read(run_id: str) -> None:
            try:
                found[run_id] = await self._launcher.run_state(run_id)
            except LaunchError:
                pass  # unknown is not "ended": leave the row as the catalog has it

        with anyio.move_on_after(STATE_READ_TIMEOUT):
            async with anyio.create_task_group() as group:
                for run_id in run_ids:
                    group.start_soon(read, run_id)
        return found


def launch(
    *,
    session: Session,
    runs: Runs,
    operation: str,
    record: Row,
    parameters: dict[str, Any] | None = None,
) -> None:
    """Start the run driving `record`'s new transition and record its id on the row.

    The flow's parameters default to the record's id as `<kind>_id` (`backup_id`,
    `volume_id`, `snapshot_id`). `record` must just have been moved to its transitional
    status (its op_token names the attempt, so a repeated restore makes a new run). If
    the orchestrator cannot take the run, the row goes to its failure status with the
    reason and LaunchError propagates (503): nothing stays half-done.
    """
    kind = kind_of(record).name
    if parameters is None:
        parameters = {kind_of(record).param: record.id}
    try:
        run_id = runs.start(
            operation,
            resource_id=record.id,
            attempt=record.op_token or str(uuid.uuid4()),
            parameters=parameters,
            name=run_name(session, flow_name(operation), record),
            tags=run_tags(record),
        )
    except LaunchError:
        reason = f"could not start {flow_name(operation)}: the orchestrator is unavailable"
        logger.warning("%s %s: %s", kind, record.id, reason)
        repair_after_run(session=session, record=record, reason=reason)
        raise
    attach_flow_run(session=session, record=record, flow_run_id=run_id)
    logger.info("%s %s driven by flow run %s", kind, record.id, run_id)
