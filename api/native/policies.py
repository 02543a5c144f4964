"""Backup policies (`/v1/{project_id}/policies`): Safehold's own API.

The catalog holds each policy's definition; Prefect holds its schedule (one deployment
schedule per policy, slug ``policy-<id>``, on the policy-run deployment). Whether a
policy is paused is Prefect's flag: pausing in our API or in the Prefect UI is the same
act, and reads mirror the flag into the catalog. Everything else is the catalog's: a
schedule missing in Prefect is re-created from it (docs/operations.md "Policies").
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlmodel import Session

from api.auth import list_project, visible_project
from api.deps import ContextDep, RunsDep, SessionDep
from api.launcher import LaunchError
from api.native.policy_schemas import (
    PolicyCreateBody,
    PolicyFields,
    PolicyUpdateBody,
    RetentionRequest,
)
from api.native.policy_views import plan_view, policy_view
from api.runs import Runs
from api.schedules import ScheduleState, slug_of, spec_of
from storage.catalog import policies, utcnow
from storage.catalog.policy_models import Policy, PolicyStatus
from storage.catalog.policy_targets import TARGET_KINDS, retention_plans
from storage.catalog.rows import get_owned
from storage.errors import InvalidRequest

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/{project_id}/policies", tags=["policies"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such policy in the project"}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Prefect is unreachable; nothing changed"}
}


def _check_target(session: Session, policy: Policy) -> None:
    """RecordNotFound unless a named target resource exists in the policy's project."""
    if policy.target_id is not None:
        kind = TARGET_KINDS[policy.target_kind]
        resource: Any = kind.resource
        get_owned(session, resource, policy.target_id, policy.project_id)


def _mirror(session: Session, runs: Runs, listed: list[Policy]) -> dict[str, Any]:
    """Agree with Prefect before rendering: its pause flag wins, a missing schedule is
    re-created from the catalog; the next run of each policy (empty when unreachable)."""
    try:
        held = runs.schedules()
    except LaunchError:
        return {}
    for policy in listed:
        state = held.get(slug_of(policy.id)) or _recreate(runs, policy)
        if state is None:
            continue  # Prefect refused: the catalog's status is shown as it is
        status = PolicyStatus.ACTIVE if state.active else PolicyStatus.PAUSED
        if status != policy.status or state.id != policy.schedule_id:
            policies.set_policy_schedule(
                session=session, policy_id=policy.id, schedule_id=state.id, status=status
            )
            session.refresh(policy)
    try:
        return dict(runs.next_runs())
    except LaunchError:
        return {}


def _recreate(runs: Runs, policy: Policy) -> ScheduleState | None:
    try:
        state = runs.put_schedule(policy.id, spec_of(policy), policy.status == PolicyStatus.ACTIVE)
    except (LaunchError, InvalidRequest):
        return None
    logger.warning("policy %s: its Prefect schedule was missing; re-created", policy.id)
    return state


@router.post("", status_code=201, summary="Create a backup policy", responses=UNAVAILABLE)
def create_policy(
    body: PolicyCreateBody, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """201 `{"policy": {...}}`: the row and its active Prefect schedule, or neither."""
    fields = body.policy.columns()
    draft = Policy(id="", project_id=context.project_id, user_id=context.user_id, **fields)
    _check_target(session, draft)
    spec_of(draft)
    policy = policies.create_policy(
        session=session, project_id=context.project_id, user_id=context.user_id, fields=fields
    )
    try:
        state = runs.put_schedule(policy.id, spec_of(policy), True)
    except LaunchError:
        policies.delete_policy(session=session, policy_id=policy.id)
        raise
    policies.set_policy_schedule(session=session, policy_id=policy.id, schedule_id=state.id)
    session.refresh(policy)
    logger.info("policy %s (%s) created by %s", policy.id, policy.name, context.user_id)
    return {"policy": policy_view(policy, None)}


@router.get("", summary="List backup policies")
def list_policies(
    context: ContextDep, session: SessionDep, runs: RunsDep, all_projects: bool = False
) -> dict[str, Any]:
    """`{"policies": [...]}` of the project (every project's: admin with all_projects)."""
    listed = policies.list_policies(session=session, project_id=list_project(context, all_projects))
    upcoming = _mirror(session, runs, listed)
    return {"policies": [policy_view(p, upcoming.get(p.id)) for p in listed]}


def _visible(session: Session, context: Any, policy_id: str) -> Policy:
    return policies.get_policy(
        session=session, policy_id=policy_id, project_id=visible_project(context)
    )


@router.get("/{policy_id}", summary="Show a backup policy", responses=NOT_FOUND)
def show_policy(
    policy_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"policy": {...}}` with its status, last and next run."""
    policy = _visible(session, context, policy_id)
    upcoming = _mirror(session, runs, [policy])
    return {"policy": policy_view(policy, upcoming.get(policy.id))}


@router.put("/{policy_id}", summary="Change a backup policy", responses=NOT_FOUND | UNAVAILABLE)
def update_policy(
    policy_id: str, body: PolicyUpdateBody, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """200 `{"policy": {...}}`; Prefect's schedule is replaced first (parameters
    resent), and the catalog changes only once Prefect took it."""
    policy = _visible(session, context, policy_id)
    changes = _merged_changes(policy, body.policy)
    for key, value in changes.items():
        setattr(policy, key, value)
    _check_target(session, policy)
    spec = spec_of(policy)
    try:
        state = runs.put_schedule(policy.id, spec, policy.status == PolicyStatus.ACTIVE)
    except LaunchError:
        session.rollback()
        raise
    session.expire(policy)
    policy = policies.update_policy(session=session, policy=policy, changes=changes)
    policies.set_policy_schedule(session=session, policy_id=policy.id, schedule_id=state.id)
    session.refresh(policy)
    logger.info("policy %s changed by %s: %s", policy.id, context.user_id, sorted(changes))
    return {"policy": policy_view(policy, None)}


def _merged_changes(policy: Policy, fields: PolicyFields) -> dict[str, Any]:
    """The columns to set; a schedule given whole replaces both cron and interval."""
    changes = fields.columns()
    if fields.schedule is not None:
        changes |= {
            "cron": fields.schedule.cron,
            "interval_seconds": fields.schedule.interval_seconds,
        }
    return changes


@router.delete("/{policy_id}", status_code=204, responses=NOT_FOUND | UNAVAILABLE)
def delete_policy(
    policy_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> Response:
    """204: the schedule, then the row, go; the policy's backups stay."""
    policy = _visible(session, context, policy_id)
    runs.delete_schedule(policy.id)
    policies.delete_policy(session=session, policy_id=policy.id)
    logger.info("policy %s deleted by %s", policy_id, context.user_id)
    return Response(status_code=204)


def _set_active(
    session: Session, runs: Runs, context: Any, policy_id: str, active: bool
) -> dict[str, Any]:
    """Pause or resume in Prefect (re-creating a missing schedule), then the catalog."""
    policy = _visible(session, context, policy_id)
    if not runs.set_schedule_active(policy.id, active):
        state = runs.put_schedule(policy.id, spec_of(policy), active)
        policies.set_policy_schedule(session=session, policy_id=policy.id, schedule_id=state.id)
    status = PolicyStatus.ACTIVE if active else PolicyStatus.PAUSED
    policies.set_policy_status(session=session, policy_id=policy.id, status=status)
    session.refresh(policy)
    logger.info("policy %s %s by %s", policy.id, "resumed" if active else "paused", context.user_id)
    return {"policy": policy_view(policy, None)}


@router.post("/{policy_id}/pause", summary="Pause a policy's schedule", responses=NOT_FOUND)
def pause_policy(
    policy_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """200 `{"policy": {...}}`; idempotent. Runs already started finish."""
    return _set_active(session, runs, context, policy_id, False)


@router.post("/{policy_id}/resume", summary="Resume a policy's schedule", responses=NOT_FOUND)
def resume_policy(
    policy_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """200 `{"policy": {...}}`; idempotent."""
    return _set_active(session, runs, context, policy_id, True)


@router.post("/{policy_id}/run", status_code=202, summary="Run a policy now", responses=NOT_FOUND)
def run_policy(
    policy_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """202 `{"run": {"flow_run_id"}}`: a policy-run outside the schedule (no start
    window; paused policies run too)."""
    policy = _visible(session, context, policy_id)
    run_id = runs.start(
        "policy_run",
        resource_id=policy.id,
        attempt=str(uuid.uuid4()),
        parameters={"policy_id": policy.id, "manual": True},
        name=f"policy {policy.name} manual",
        tags=[f"project:{policy.project_id}", f"policy:{policy.id}"],
    )
    logger.info("policy %s run now by %s: flow run %s", policy.id, context.user_id, run_id)
    return {"run": {"flow_run_id": run_id}}


@router.post(
    "/{policy_id}/retention",
    summary="Plan (dry run) or apply a policy's retention",
    responses=NOT_FOUND | {202: {"description": "apply-retention started"}},
)
def apply_retention(
    policy_id: str,
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    response: Response,
    body: RetentionRequest | None = None,
) -> dict[str, Any]:
    """200 with the plan (``dry_run``, the default: nothing changes), or 202 with the
    apply-retention run; 400 for a policy without retention rules."""
    policy = _visible(session, context, policy_id)
    if policy.retention is None:
        raise InvalidRequest(f"Policy {policy.id} has no retention rules.")
    if (body or RetentionRequest()).dry_run:
        return {
            "retention": plan_view(retention_plans(session=session, policy=policy, now=utcnow()))
        }
    run_id = runs.start(
        "apply_retention",
        resource_id=policy.id,
        attempt=str(uuid.uuid4()),
        parameters={"policy_id": policy.id, "dry_run": False},
        name=f"apply-retention {policy.name}",
        tags=[f"project:{policy.project_id}", f"policy:{policy.id}"],
    )
    response.status_code = 202
    return {"retention": {"dry_run": False, "flow_run_id": run_id}}
