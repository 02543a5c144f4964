"""Backup policies in the catalog: create, read, edit, pause, delete, and run outcomes.

The definition (targets, schedule, mode, window, retention) is the catalog's; whether
the schedule is active is mirrored from Prefect (docs/operations.md "Policies"). Run
outcomes are written by the policy-run flow and read by the API's status fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.catalog.models import utcnow
from storage.catalog.policy_models import Policy, PolicyStatus
from storage.catalog.rows import get_owned, save_edit
from storage.retention import Rules

# Fields a policy update may change (the rest are identity or run outcomes).
EDITABLE = frozenset(
    {
        "name",
        "description",
        "target_kind",
        "target_id",
        "target_metadata",
        "cron",
        "timezone",
        "interval_seconds",
        "full_every_runs",
        "full_every_days",
        "start_window_seconds",
        "retention",
    }
)


def create_policy(
    *, session: Session, project_id: str, user_id: str, fields: Mapping[str, Any]
) -> Policy:
    """Insert an active policy from validated ``fields`` (EDITABLE keys); the fresh row."""
    unknown = set(fields) - EDITABLE
    if unknown:
        raise ValueError(f"not policy fields: {sorted(unknown)}")
    policy = Policy(id=str(uuid.uuid4()), project_id=project_id, user_id=user_id, **fields)
    session.add(policy)
    session.commit()
    session.refresh(policy)
    return policy


def get_policy(*, session: Session, policy_id: str, project_id: str | None = None) -> Policy:
    """The policy; RecordNotFound when missing or (project_id given) another project's."""
    return get_owned(session, Policy, policy_id, project_id)


def list_policies(*, session: Session, project_id: str | None = None) -> list[Policy]:
    """Policies of a project (every project when None), oldest first."""
    stmt = select(Policy).order_by(col(Policy.created_at), col(Policy.id))
    if project_id is not None:
        stmt = stmt.where(Policy.project_id == project_id)
    return list(session.exec(stmt))


def update_policy(*, session: Session, policy: Policy, changes: Mapping[str, Any]) -> Policy:
    """Apply validated ``changes`` (EDITABLE keys only) and stamp updated_at."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not policy fields: {sorted(unknown)}")
    for key, value in changes.items():
        setattr(policy, key, value)
    return save_edit(session, policy)


def set_policy_schedule(
    *, session: Session, policy_id: str, schedule_id: str | None, status: str | None = None
) -> None:
    """Record the policy's Prefect schedule id (and its active flag, when known)."""
    values: dict[str, Any] = {"schedule_id": schedule_id}
    if status is not None:
        values["status"] = PolicyStatus(status).value
    _update(session, policy_id, values)


def set_policy_status(*, session: Session, policy_id: str, status: str) -> None:
    """Mirror the schedule's active flag (active / paused); idempotent."""
    _update(session, policy_id, {"status": PolicyStatus(status).value})


def delete_policy(*, session: Session, policy_id: str) -> None:
    """Remove the row; its backups keep their policy_id (retention no longer runs)."""
    policy = session.get(Policy, policy_id)
    if policy is not None:
        session.delete(policy)
        session.commit()


def record_run(
    *,
    session: Session,
    policy_id: str,
    flow_run_id: str,
    state: str,
    reason: str | None = None,
    when: datetime | None = None,
) -> None:
    """Record a policy run's outcome: COMPLETED resets the failure count, anything else
    (FAILED) adds one; a vanished policy is ignored."""
    policy = session.get(Policy, policy_id)
    if policy is None:
        return
    when = when or utcnow()
    policy.last_run_at, policy.last_run_state = when, state
    policy.last_run_flow_run_id, policy.last_run_reason = flow_run_id, reason
    if state == "COMPLETED":
        policy.last_success_at, policy.consecutive_failures = when, 0
    else:
        policy.consecutive_failures += 1
    session.add(policy)
    session.commit()


def record_missed(*, session: Session, policy_id: str, flow_run_id: str, reason: str) -> None:
    """Count a run that could not start within the policy's start window."""
    policy = session.get(Policy, policy_id)
    if policy is None:
        return
    now = utcnow()
    policy.missed_runs += 1
    policy.last_missed_at = now
    policy.last_run_at, policy.last_run_state = now, "MISSED"
    policy.last_run_flow_run_id, policy.last_run_reason = flow_run_id, reason
    session.add(policy)
    session.commit()


def _update(session: Session, policy_id: str, values: dict[str, Any]) -> None:
    session.execute(update(Policy).where(col(Policy.id) == policy_id).values(**values))
    session.commit()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """ "90s", "30m", "12h", "7d", "2w" (or a sum like "1d12h") as a timedelta; ValueError."""
    total, number = 0, ""
    for char in text.strip().lower():
        if char.isdigit():
            number += char
        elif char in _UNITS and number:
            total, number = total + int(number) * _UNITS[char], ""
        else:
            raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 12h, 7d, 2w)")
    if number or total <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 12h, 7d, 2w)")
    return timedelta(seconds=total)


def retention_rules(retention: Mapping[str, Any] | None) -> Rules | None:
    """The retention.Rules of a policy's stored retention (None: keep everything);
    ValueError for rules retention refuses."""
    if retention is None:
        return None
    within = retention.get("keep_within")
    return Rules(
        **{key: int(retention.get(key) or 0) for key in COUNT_RULES},
        keep_within=parse_duration(within) if within else None,
        floor=int(retention.get("floor") or 1),
        tz=str(retention.get("timezone") or "UTC"),
    )


COUNT_RULES = (
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
)
