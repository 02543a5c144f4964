"""Bodies of the policies API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.views.common import isotime
from storage.catalog.policy_models import Policy
from storage.catalog.policy_targets import TargetPlan


def policy_view(policy: Policy, next_run_at: datetime | None) -> dict[str, Any]:
    """One policy: definition, status and run outcomes (``last_run_flow_run_id`` is the
    Prefect flow run of the last run; ``next_run_at`` as Prefect has scheduled it)."""
    return {
        "id": policy.id,
        "project_id": policy.project_id,
        "name": policy.name,
        "description": policy.description,
        "targets": {
            "kind": policy.target_kind,
            "resource_id": policy.target_id,
            "metadata": policy.target_metadata or None,
        },
        "schedule": {
            "cron": policy.cron,
            "timezone": policy.timezone,
            "interval_seconds": policy.interval_seconds,
        },
        "mode": {
            "full_every_runs": policy.full_every_runs,
            "full_every_days": policy.full_every_days,
        },
        "start_window_seconds": policy.start_window_seconds,
        "retention": policy.retention,
        "status": policy.status,
        "schedule_id": policy.schedule_id,
        "next_run_at": isotime(next_run_at) if policy.status == "active" else None,
        "last_run_at": isotime(policy.last_run_at),
        "last_run_state": policy.last_run_state,
        "last_run_flow_run_id": policy.last_run_flow_run_id,
        "last_run_reason": policy.last_run_reason,
        "last_success_at": isotime(policy.last_success_at),
        "consecutive_failures": policy.consecutive_failures,
        "missed_runs": policy.missed_runs,
        "last_missed_at": isotime(policy.last_missed_at),
        "created_at": isotime(policy.created_at),
        "updated_at": isotime(policy.updated_at),
    }


def plan_view(plans: list[TargetPlan]) -> dict[str, Any]:
    """A dry run's decisions: kept and expired backups with their reasons, newest first
    per resource, and the backups whose delete would remove the expired ones."""
    out: dict[str, list[dict[str, Any]]] = {"kept": [], "expired": []}
    deletes: list[str] = []
    for target in plans:
        for verdict, decision, created in target.verdicts():
            out[verdict].append(
                {
                    "id": decision.backup_id,
                    "resource_id": target.resource_id,
                    "created_at": isotime(created),
                    "reason": decision.reason,
                }
            )
        deletes.extend(target.to_delete())
    return {"dry_run": True, **out, "deletes": deletes}
