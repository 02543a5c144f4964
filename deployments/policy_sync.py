"""At start-up, make Prefect's policy schedules agree with the catalog.

The catalog owns each policy's definition; Prefect owns its pause flag (both our API
and the Prefect UI set it). So every policy's schedule is re-written from the catalog
(cron or interval, parameters resent) keeping Prefect's flag when it has the schedule,
a missing schedule is re-created with the catalog's status, and a `policy-*` schedule
whose policy is gone is removed. Reads through the API keep them in step afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.schedules import CronSchedule
from sqlmodel import Session

from api import schedules
from api.schedules import spec_of
from storage.catalog import make_engine
from storage.catalog.policies import list_policies, set_policy_schedule
from storage.catalog.policy_models import Policy, PolicyStatus
from storage.errors import InvalidRequest
from storage.settings import Settings

log = logging.getLogger("safehold")


@dataclass
class SyncReport:
    """What the start-up sync changed, by policy id."""

    rewritten: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


SWEEP_DEPLOYMENT = "retention-sweep/safehold"
SWEEP_SLUG = "retention-sweep"


async def _sweep_schedule(client: PrefectClient, cron: str) -> None:
    """Create or replace the retention sweep's schedule (SAFEHOLD_RETENTION_CRON, UTC)."""
    sweep = CronSchedule(cron=cron, timezone="UTC")
    await schedules.put_slug(client, SWEEP_DEPLOYMENT, SWEEP_SLUG, sweep, True, {})


async def sync_policies(api_url: str, settings: Settings) -> SyncReport:
    """Re-write every policy's schedule from the catalog, remove orphans and (re)write
    the retention sweep's schedule; idempotent."""
    report = SyncReport()
    engine = make_engine(settings.resolved_catalog_url())
    try:
        with Session(engine) as session:
            async with PrefectClient(api_url) as client:
                held = await schedules.read_schedules(client)
                for policy in list_policies(session=session):
                    state = held.pop(schedules.slug_of(policy.id), None)
                    await _rewrite(client, session, policy, state, report)
                for slug in held:
                    if slug.startswith("policy-"):
                        await schedules.delete_schedule(client, slug.removeprefix("policy-"))
                        report.removed.append(slug.removeprefix("policy-"))
                await _sweep_schedule(client, settings.retention_cron)
    finally:
        engine.dispose()
    if report.recreated or report.removed:
        log.warning(
            "policy schedules re-created: %s; removed (policy gone): %s",
            report.recreated,
            report.removed,
        )
    return report


async def _rewrite(
    client: PrefectClient,
    session: Session,
    policy: Policy,
    state: schedules.ScheduleState | None,
    report: SyncReport,
) -> None:
    """Write one policy's schedule from the catalog, keeping Prefect's pause flag."""
    active = state.active if state else policy.status == PolicyStatus.ACTIVE
    try:
        spec = spec_of(policy)
    except InvalidRequest as exc:
        log.error("policy %s: schedule not written: %s", policy.id, exc)
        return
    new = await schedules.put_schedule(client, policy.id, spec, active)
    status = PolicyStatus.ACTIVE if active else PolicyStatus.PAUSED
    set_policy_schedule(session=session, policy_id=policy.id, schedule_id=new.id, status=status)
    (report.rewritten if state else report.recreated).append(policy.id)
