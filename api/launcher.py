"""Starting flow runs by deployment name, and reading their state; Prefect or recorded.

The API never imports `flows`: it names deployments. The lead serves each flow
("create-backup", ...) as the deployment "safehold", hence "<flow>/safehold".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from prefect.client.orchestration import PrefectClient, get_client
from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling

from api import schedules
from api.schedules import RecordedSchedules, ScheduleSpec, ScheduleState

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEPLOYMENT_NAMES: Final[Mapping[str, str]] = {
    "create_backup": "create-backup/safehold",
    "restore_backup": "restore-backup/safehold",
    "delete_backup": "delete-backup/safehold",
    "delete_backup_tree": "delete-backup-tree/safehold",
    "create_volume": "create-volume/safehold",
    "delete_volume": "delete-volume/safehold",
    "manage_volume": "manage-volume/safehold",
    "create_snapshot": "create-snapshot/safehold",
    "delete_snapshot": "delete-snapshot/safehold",
    "rebuild_catalog": "rebuild-catalog/safehold",
    "collect_garbage": "collect-garbage/safehold",
    "create_share": "create-share/safehold",
    "manage_share": "manage-share/safehold",
    "delete_share": "delete-share/safehold",
    "create_share_backup": "create-share-backup/safehold",
    "restore_share_backup": "restore-share-backup/safehold",
    "delete_share_backup": "delete-share-backup/safehold",
    "create_db_instance": "create-db-instance/safehold",
    "delete_db_instance": "delete-db-instance/safehold",
    "create_db_backup": "create-db-backup/safehold",
    "delete_db_backup_tree": "delete-db-backup-tree/safehold",
    "policy_run": "policy-run/safehold",
    "apply_retention": "apply-retention/safehold",
}


@dataclass(frozen=True)
class RunState:
    """A flow run's state: Prefect's type name ("COMPLETED", "CRASHED", ...) and message."""

    type: str
    message: str | None = None


class LaunchError(Exception):
    """The orchestrator could not be reached or refused the request; safe to show."""


class Launcher(Protocol):
    """What the API needs from the orchestrator."""

    async def submit(
        self,
        deployment: str,
        *,
        parameters: dict[str, Any],
        idempotency_key: str,
        run_name: str,
        tags: tuple[str, ...] = (),
    ) -> str:
        """Create a flow run of `deployment` and return its id; LaunchError if impossible.

        The same idempotency key returns the same run.
        """
        ...

    async def run_state(self, flow_run_id: str) -> RunState | None:
        """The run's current state; None if the run does not exist; LaunchError if unknown."""
        ...

    async def cancel(self, flow_run_id: str, reason: str) -> None:
        """Ask the run to stop (Cancelling); a run already over is left as it is.

        LaunchError if the orchestrator cannot be told.
        """
        ...

    async def read_schedules(self) -> dict[str, ScheduleState]:
        """The policy schedules, by slug; LaunchError if they cannot be read."""
        ...

    async def put_schedule(self, policy_id: str, spec: ScheduleSpec, active: bool) -> ScheduleState:
        """Create or replace a policy's schedule; LaunchError if impossible."""
        ...

    async def next_runs(self) -> dict[str, datetime]:
        """The next scheduled run of each policy, by policy id; LaunchError."""
        ...

    async def set_schedule_active(self, policy_id: str, active: bool) -> bool:
        """Pause or resume a policy's schedule; False if missing; LaunchError."""
        ...

    async def delete_schedule(self, policy_id: str) -> None:
        """Remove a policy's schedule (missing is fine); LaunchError."""
        ...


class PrefectLauncher:
    """Launcher over one long-lived Prefect client (opened by `open_prefect_launcher`)."""

    def __init__(self, client: PrefectClient) -> None:
        self._client = client

    async def submit(
        self,
        deployment: str,
        *,
        parameters: dict[str, Any],
        idempotency_key: str,
        run_name: str,
        tags: tuple[str, ...] = (),
    ) -> str:
        """Schedule a run and return at once (timeout=0); LaunchError on any failure."""
        try:
            flow_run = await arun_deployment(
                name=deployment,
                client=self._client,
                parameters=parameters,
                timeout=0,
                idempotency_key=idempotency_key,
                flow_run_name=run_name,
                tags=list(tags),
                as_subflow=False,
            )
        except Exception as exc:
            # One boundary: whatever Prefect or the network raised becomes LaunchError.
            logger.warning("submitting %s (%s) failed: %r", deployment, run_name, exc)
            raise LaunchError(f"could not start {deployment}") from exc
        return str(flow_run.id)

    async def run_state(self, flow_run_id: str) -> RunState | None:
        """Read the run; None when Prefect no longer knows it."""
        try:
            flow_run = await self._client.read_flow_run(uuid.UUID(flow_run_id))
        except ObjectNotFound:
            return None
        except Exception as exc:
            logger.warning("reading flow run %s failed: %r", flow_run_id, exc)
            raise LaunchError(f"could not read flow run {flow_run_id}") from exc
        state = flow_run.state
        if state is None:
            return RunState("SCHEDULED")
        return RunState(state.type.value, state.message)

    async def cancel(self, flow_run_id: str, reason: str) -> None:
        """Propose Cancelling; Prefect refuses it for a run already in a final state."""
        try:
            await self._client.set_flow_run_state(
                uuid.UUID(flow_run_id), Cancelling(message=reason)
            )
        except ObjectNotFound:
            return
        except Exception as exc:
            logger.warning("cancelling flow run %s failed: %r", flow_run_id, exc)
            raise LaunchError(f"could not cancel flow run {flow_run_id}") from exc

    async def read_schedules(self) -> dict[str, ScheduleState]:
        """Every policy schedule Prefect holds."""
        return await _guarded(
            "reading the policy schedules", schedules.read_schedules(self._client)
        )

    async def put_schedule(self, policy_id: str, spec: ScheduleSpec, active: bool) -> ScheduleState:
        """Create or replace the policy's schedule."""
        return await _guarded(
            f"writing the schedule of policy {policy_id}",
            schedules.put_schedule(self._client, policy_id, spec, active),
        )

    async def next_runs(self) -> dict[str, datetime]:
        """The next scheduled policy runs Prefect holds."""
        return await _guarded(
            "reading the scheduled policy runs", schedules.next_runs(self._client)
        )

    async def set_schedule_active(self, policy_id: str, active: bool) -> bool:
        """Pause or resume the policy's schedule."""
        return await _guarded(
            f"pausing/resuming the schedule of policy {policy_id}",
            schedules.set_active(self._client, policy_id, active),
        )

    async def delete_schedule(self, policy_id: str) -> None:
        """Remove the policy's schedule."""
        await _guarded(
            f"deleting the schedule of policy {policy_id}",
            schedules.delete_schedule(self._client, policy_id),
        )


async def _guarded(doing: str, call: Awaitable[T]) -> T:
    """Await ``call``; whatever Prefect or the network raises becomes LaunchError."""
    try:
        return await call
    except Exception as exc:
        logger.warning("%s failed: %r", doing, exc)
        raise LaunchError(f"{doing} failed: the orchestrator is unavailable") from exc


@asynccontextmanager
async def open_prefect_launcher() -> AsyncIterator[PrefectLauncher]:
    """A PrefectLauncher whose client lives as long as the context (the app's lifespan)."""
    async with get_client() as client:
        yield PrefectLauncher(client)


@dataclass(frozen=True)
class Submission:
    """One recorded `submit` call."""

    deployment: str
    parameters: dict[str, Any]
    idempotency_key: str
    run_name: str
    flow_run_id: str
    tags: tuple[str, ...] = ()


@dataclass
class RecordingLauncher:
    """In-memory Launcher for tests: records submissions, states are set by the test.

    New runs are SCHEDULED; `set_state` changes one, `forget` makes it vanish (None),
    and `fail_with` makes every call raise LaunchError, as an unreachable Prefect would.
    """

    submissions: list[Submission] = field(default_factory=list)
    states: dict[str, RunState] = field(default_factory=dict)
    fail_with: str | None = None
    state_reads: int = 0
    cancelled: list[tuple[str, str]] = field(default_factory=list)
    schedules: RecordedSchedules = field(default_factory=lambda: RecordedSchedules({}, {}))
    scheduled: dict[str, datetime] = field(default_factory=dict)

    async def submit(
        self,
        deployment: str,
        *,
        parameters: dict[str, Any],
        idempotency_key: str,
        run_name: str,
        tags: tuple[str, ...] = (),
    ) -> str:
        """Record the call; the same idempotency key returns the same run id."""
        if self.fail_with is not None:
            raise LaunchError(self.fail_with)
        for done in self.submissions:
            if done.idempotency_key == idempotency_key:
                return done.flow_run_id
        run_id = str(uuid.uuid4())
        self.submissions.append(
            Submission(deployment, dict(parameters), idempotency_key, run_name, run_id, tags)
        )
        self.states[run_id] = RunState("SCHEDULED")
        return run_id

    async def run_state(self, flow_run_id: str) -> RunState | None:
        """The state set for the run; None for runs never submitted or forgotten."""
        self.state_reads += 1
        if self.fail_with is not None:
            raise LaunchError(self.fail_with)
        return self.states.get(flow_run_id)

    async def cancel(self, flow_run_id: str, reason: str) -> None:
        """Record the request; a known run that is not over goes CANCELLING."""
        if self.fail_with is not None:
            raise LaunchError(self.fail_with)
        self.cancelled.append((flow_run_id, reason))
        state = self.states.get(flow_run_id)
        if state is not None and state.type not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            self.states[flow_run_id] = RunState("CANCELLING", reason)

    def set_state(self, flow_run_id: str, type_: str, message: str | None = None) -> None:
        """Move a run to another state, as Prefect would."""
        self.states[flow_run_id] = RunState(type_, message)

    def forget(self, flow_run_id: str) -> None:
        """Make a run disappear, as if Prefect's database had been reset."""
        self.states.pop(flow_run_id, None)

    async def read_schedules(self) -> dict[str, ScheduleState]:
        """The recorded schedules."""
        self._reachable()
        return dict(self.schedules.states)

    async def put_schedule(self, policy_id: str, spec: ScheduleSpec, active: bool) -> ScheduleState:
        """Record the schedule."""
        self._reachable()
        return self.schedules.put(policy_id, spec, active)

    async def next_runs(self) -> dict[str, datetime]:
        """Recorded next runs (set by tests)."""
        self._reachable()
        return dict(self.scheduled)

    async def set_schedule_active(self, policy_id: str, active: bool) -> bool:
        """Flip the recorded schedule's flag."""
        self._reachable()
        return self.schedules.set_active(policy_id, active)

    async def delete_schedule(self, policy_id: str) -> None:
        """Forget the recorded schedule."""
        self._reachable()
        self.schedules.delete(policy_id)

    def _reachable(self) -> None:
        if self.fail_with is not None:
            raise LaunchError(self.fail_with)
