"""Policy schedules as Prefect deployment schedules, addressed by slug.

Each policy is one schedule (slug ``policy-<id>``) on the policy-run deployment, with
the policy id as its parameters. Prefect wipes a schedule's parameters when an update
omits them (PREFECT-NOTES "Schedules"), so every write here sends them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.schedules import SCHEDULE_TYPES, CronSchedule, IntervalSchedule
from prefect.client.schemas.sorting import FlowRunSort
from pydantic import ValidationError

from storage.catalog.policy_models import Policy
from storage.errors import InvalidRequest

POLICY_DEPLOYMENT = "policy-run/safehold"
# Runs the scheduler keeps ahead per policy: enough to show the next one in the UI.
AHEAD = 3


@dataclass(frozen=True)
class ScheduleSpec:
    """When a policy runs: a cron expression in a time zone, or an interval from anchor."""

    cron: str | None
    timezone: str
    interval_seconds: int | None
    anchor: datetime

    def prefect(self) -> CronSchedule | IntervalSchedule:
        """The Prefect schedule object; ValueError (pydantic) for an invalid cron."""
        if self.cron is not None:
            return CronSchedule(cron=self.cron, timezone=self.timezone)
        assert self.interval_seconds is not None
        return IntervalSchedule(
            interval=timedelta(seconds=self.interval_seconds),
            anchor_date=self.anchor,
            timezone=self.timezone,
        )


@dataclass(frozen=True)
class ScheduleState:
    """A schedule as Prefect holds it."""

    id: str
    active: bool


def spec_of(policy: Policy) -> ScheduleSpec:
    """The policy's schedule; InvalidRequest for a cron Prefect refuses."""
    spec = ScheduleSpec(policy.cron, policy.timezone, policy.interval_seconds, policy.created_at)
    try:
        spec.prefect()
    except (ValidationError, ValueError) as exc:
        raise InvalidRequest(f"Invalid schedule: {_first_error(exc)}") from exc
    return spec


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return str(exc.errors()[0].get("msg", exc))
    return str(exc)


def slug_of(policy_id: str) -> str:
    """The schedule slug of a policy."""
    return f"policy-{policy_id}"


async def _deployment_id(client: PrefectClient, name: str = POLICY_DEPLOYMENT) -> uuid.UUID:
    return (await client.read_deployment_by_name(name)).id


async def _by_slug(client: PrefectClient, deployment: uuid.UUID) -> dict[str, ScheduleState]:
    found = await client.read_deployment_schedules(deployment)
    return {s.slug: ScheduleState(str(s.id), s.active) for s in found if s.slug}


async def read_schedules(client: PrefectClient) -> dict[str, ScheduleState]:
    """Every schedule of the policy-run deployment, by slug (slug-less ones skipped)."""
    return await _by_slug(client, await _deployment_id(client))


async def next_runs(client: PrefectClient, limit: int = 200) -> dict[str, datetime]:
    """The next scheduled run of each policy, by policy id, as Prefect will start it
    (from the ``limit`` soonest scheduled runs: Prefect's page limit is 200)."""
    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(
            id=DeploymentFilterId(any_=[await _deployment_id(client)])
        ),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=limit,
    )
    found: dict[str, datetime] = {}
    for run in runs:
        policy_id = str(run.parameters.get("policy_id", ""))
        if policy_id and run.expected_start_time is not None:
            found.setdefault(policy_id, run.expected_start_time)
    return found


async def put_slug(
    client: PrefectClient,
    deployment_name: str,
    slug: str,
    schedule: SCHEDULE_TYPES,
    active: bool,
    parameters: dict[str, Any],
) -> ScheduleState:
    """Create or replace the deployment's schedule ``slug``, parameters always resent
    (Prefect wipes them on an update that omits them); idempotent."""
    deployment = await _deployment_id(client, deployment_name)
    existing = (await _by_slug(client, deployment)).get(slug)
    if existing is None:
        wanted: list[tuple[SCHEDULE_TYPES, bool]] = [(schedule, active)]
        (created,) = await client.create_deployment_schedules(
            deployment, wanted, AHEAD, parameters, slug
        )
        return ScheduleState(str(created.id), active)
    await client.update_deployment_schedule(
        deployment,
        uuid.UUID(existing.id),
        active=active,
        schedule=schedule,
        max_scheduled_runs=AHEAD,
        parameters=parameters,
        slug=slug,
    )
    return ScheduleState(existing.id, active)


async def put_schedule(
    client: PrefectClient, policy_id: str, spec: ScheduleSpec, active: bool
) -> ScheduleState:
    """Create or replace the policy's schedule; idempotent."""
    parameters = {"policy_id": policy_id}
    return await put_slug(
        client, POLICY_DEPLOYMENT, slug_of(policy_id), spec.prefect(), active, parameters
    )


async def set_active(client: PrefectClient, policy_id: str, active: bool) -> bool:
    """Pause or resume the policy's schedule, parameters resent; False if it is missing."""
    deployment = await _deployment_id(client)
    existing = (await _by_slug(client, deployment)).get(slug_of(policy_id))
    if existing is None:
        return False
    await client.update_deployment_schedule(
        deployment, uuid.UUID(existing.id), active=active, parameters={"policy_id": policy_id}
    )
    return True


async def delete_schedule(client: PrefectClient, policy_id: str) -> None:
    """Remove the policy's schedule; a missing one is fine."""
    deployment = await _deployment_id(client)
    existing = (await _by_slug(client, deployment)).get(slug_of(policy_id))
    if existing is not None:
        await client.delete_deployment_schedule(deployment, uuid.UUID(existing.id))


@dataclass
class RecordedSchedules:
    """In-memory schedules for tests of the API without Prefect, by slug."""

    specs: dict[str, tuple[ScheduleSpec, dict[str, Any]]]
    states: dict[str, ScheduleState]

    def put(self, policy_id: str, spec: ScheduleSpec, active: bool) -> ScheduleState:
        """As put_schedule."""
        slug = slug_of(policy_id)
        old = self.states.get(slug)
        state = ScheduleState(old.id if old else str(uuid.uuid4()), active)
        self.specs[slug], self.states[slug] = (spec, {"policy_id": policy_id}), state
        return state

    def set_active(self, policy_id: str, active: bool) -> bool:
        """As set_active."""
        old = self.states.get(slug_of(policy_id))
        if old is None:
            return False
        self.states[slug_of(policy_id)] = ScheduleState(old.id, active)
        return True

    def delete(self, policy_id: str) -> None:
        """As delete_schedule."""
        self.specs.pop(slug_of(policy_id), None)
        self.states.pop(slug_of(policy_id), None)
