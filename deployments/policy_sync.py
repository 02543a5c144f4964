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
from sqlmodel import Session

from api import schedules
from api.native.policies import spec_of
from storage.catalog import make_engine
from storage.catalog.policies import list_policies, set_policy_schedule
from storage.catalog.policy_models import PolicyStatus
from storage.errors import InvalidRequest
from storage.settings import Settings

log = logging.getLogger("safehold")


@dataclass
class SyncReport:
    """What the start-up sync changed, by policy id."""

    rewritten: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


async def sync_policies(api_url: str, settings: Settings) -> SyncReport:
    """Re-write every policy's schedule from the catalog; idempotent."""
    report = SyncReport()
    engine = make_engine(settings.resolved_catalog_url())
    try:
        with Session(engine) as session:
            policies = list_policies(session=session)
            async with PrefectClient(api_url) as client:
                held = await schedules.read_schedules(client)
                for policy in policies:
                    state = held.pop(schedules.slug_of(policy.id), None)
                    active = state.active if state else policy.status == PolicyStatus.ACTIVE
                    try:
                        spec = spec_of(policy)
                    except InvalidRequest as exc:
                        log.error("policy %s: schedule not written: %s", policy.id, exc)
                        continue
                    new = await schedules.put_schedule(client, policy.id, spec, active)
                    status = PolicyStatus.ACTIVE if active else PolicyStatus.PAUSED
                    set_policy_schedule(
                        session=session, policy_id=policy.id, schedule_id=new.id, status=status
                    )
                    (report.rewritten if state else report.recreated).append(policy.id)
                for slug in held:
                    if slug.startswith("policy-"):
                        await schedules.delete_schedule(client, slug.removeprefix("policy-"))
                        report.removed.append(slug.removeprefix("policy-"))
    finally:
        engine.dispose()
    if report.recreated or report.removed:
        log.warning(
            "policy schedules re-created: %s; removed (policy gone): %s",
            report.recreated,
            report.removed,
        )
    return report
