"""policy-run: one run of a backup policy, from its Prefect schedule or run-now.

A run that starts later than the policy's start window after its scheduled time is
recorded as missed and does nothing (never run late). Otherwise it backs up every
target (one child run per target, started at once; the data-mover limit bounds how
many move data), publishes each target's outcome as a table artifact, applies the
policy's retention as a child flow, records the outcome on the policy, and ends Failed
if any target failed (docs/operations.md "Policies").
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_table_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Cancelled

from flows import context
from flows.children import start_child, wait_child
from flows.hooks import on_every_bad_end
from flows.policy_kinds import KIND_FLOWS
from flows.retention import apply_retention
from storage.catalog import utcnow
from storage.catalog.labels import run_name, run_tags
from storage.catalog.policies import get_policy, record_missed, record_run
from storage.catalog.policy_models import Policy, PolicyStatus
from storage.catalog.policy_targets import TARGET_KINDS, Started, TargetKind, full_reason
from storage.errors import CatalogError, RecordNotFound

log = logging.getLogger(__name__)


class PolicyRunFailed(Exception):
    """At least one target was not backed up, or retention failed."""


@dataclass
class Outcome:
    """What one target's backup came to."""

    resource: str
    name: str
    mode: str = ""
    backup: str = ""
    flow_run: str = ""
    state: str = "FAILED"
    reason: str = ""


def _load(policy_id: str) -> Policy | None:
    with context.session() as s:
        try:
            return get_policy(session=s, policy_id=policy_id)
        except RecordNotFound:
            return None


def policy_run_name() -> str:
    """`policy <name> scheduled|manual`, read when the run starts."""
    params = flow_run.get_parameters()
    policy = _load(str(params.get("policy_id")))
    label = policy.name if policy is not None else params.get("policy_id")
    return f"policy {label} {'manual' if params.get('manual') else 'scheduled'}"


def recorded_end(_flow: Any, run: Any, state: Any) -> None:
    """Record a run that failed, crashed or was cancelled, unless its body already did."""
    policy_id = run.parameters["policy_id"]
    with context.session() as s:
        policy = s.get(Policy, policy_id)
        if policy is None or policy.last_run_flow_run_id == str(run.id):
            return
        record_run(
            session=s,
            policy_id=policy_id,
            flow_run_id=str(run.id),
            state=state.type.value,
            reason=state.message,
        )


def missed_reason(policy: Policy, scheduled: datetime | None, now: datetime) -> str | None:
    """Why a scheduled run must not start now (paused, or later than its window)."""
    if policy.status == PolicyStatus.PAUSED:
        return "the policy is paused"
    if scheduled is None:
        return None
    late = (now - scheduled).total_seconds()
    if late > policy.start_window_seconds:
        return (
            f"started {late:.0f} s after its scheduled time {scheduled.isoformat()}, "
            f"beyond the start window of {policy.start_window_seconds} s"
        )
    return None


async def _back_up(policy: Policy, kind: TargetKind, resource: Any) -> Outcome:
    """Start one target's backup as a child run and wait for it."""
    outcome = Outcome(resource.id, resource.name or resource.id)
    if resource.status not in kind.ready:
        outcome.reason = f"{kind.name} {resource.id} is {resource.status}"
        return outcome
    with context.session() as s:
        why_full = full_reason(policy, kind.chain_of(s, resource.id), utcnow())
        outcome.mode = "full" if why_full is not None else "incremental"
        name = f"{policy.name} {utcnow():%Y-%m-%dT%H:%M:%SZ}"
        try:
            row = kind.begin(
                s, policy, s.get(kind.resource, resource.id), why_full is not None, name
            )
        except CatalogError as exc:
            outcome.reason = str(exc)
            return outcome
        create = KIND_FLOWS[kind.name].create
        label = run_name(s, create, row)
    outcome.backup = row.id
    outcome.flow_run = await start_child(
        create, Started(row, {"backup_id": row.id}, [row]), run_name=label, tags=run_tags(row)
    )
    await wait_child(outcome.flow_run)
    with context.session() as s:
        done: Any = s.get(kind.backup, row.id)
    outcome.state = "COMPLETED" if done is not None and done.status in kind.good else "FAILED"
    if outcome.state != "COMPLETED":
        outcome.reason = (done.fail_reason if done is not None else None) or "the backup is gone"
    log.info("policy %s: %s %s -> %s", policy.id, outcome.mode, resource.id, outcome.state)
    return outcome


async def _publish(policy: Policy, outcomes: list[Outcome]) -> None:
    rows = [asdict(outcome) for outcome in outcomes]
    await acreate_table_artifact(
        rows, key=f"policy-run-{policy.id}", description=f"targets of policy {policy.name}"
    )


@flow(
    name="policy-run",
    flow_run_name=policy_run_name,
    **on_every_bad_end(recorded_end),
)
async def run_policy(policy_id: str, manual: bool = False) -> dict[str, Any] | State:
    """Back up the policy's targets, apply retention, record the outcome; Failed if any
    target failed. A scheduled run outside its start window ends Cancelled ("Missed")."""
    run_id = str(flow_run.get_id())
    policy = _load(policy_id)
    if policy is None:
        log.info("policy %s is gone: run %s does nothing", policy_id, run_id)
        return {"targets": 0}
    if not manual:
        why = missed_reason(policy, flow_run.get_scheduled_start_time(), utcnow())
        if why is not None:
            with context.session() as s:
                record_missed(session=s, policy_id=policy_id, flow_run_id=run_id, reason=why)
            log.warning("policy %s: run %s missed: %s", policy_id, run_id, why)
            return Cancelled(name="Missed", message=why)
    kind = TARGET_KINDS[policy.target_kind]
    with context.session() as s:
        resources = kind.targets(s, policy)
    outcomes = list(await asyncio.gather(*(_back_up(policy, kind, r) for r in resources)))
    await _publish(policy, outcomes)
    problems = [f"{o.resource}: {o.reason}" for o in outcomes if o.state != "COMPLETED"]
    if policy.target_id is not None and not resources:
        problems.append(f"{kind.name} {policy.target_id} no longer exists")
    if policy.retention is not None:
        try:
            await apply_retention(policy_id=policy_id)
        except Exception as exc:
            problems.append(f"retention: {exc}")
    reason = "; ".join(problems) or None
    state = "FAILED" if problems else "COMPLETED"
    with context.session() as s:
        record_run(session=s, policy_id=policy_id, flow_run_id=run_id, state=state, reason=reason)
    if problems:
        raise PolicyRunFailed(f"{len(problems)} problem(s): {reason}")
    return {"targets": len(outcomes), "backups": [o.backup for o in outcomes]}
