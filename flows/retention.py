"""apply-retention: expire what a policy's retention rules no longer keep.

Runs after each policy run (as its child) and on request (`POST /v1/.../retention`).
Every decision is logged with its rule and published as a table artifact; expired
backups are deleted by the kind's delete flow, one child run per subtree root (chain
kinds) or per backup (shares), waited for in turn. Only backups the policy made are
ever deleted (storage.retention), and never the last good one (its floor).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_table_artifact

from flows import context
from flows.children import start_child, wait_child
from flows.policy_kinds import KIND_FLOWS
from storage.catalog import utcnow
from storage.catalog.labels import run_tags, subject
from storage.catalog.policies import get_policy, list_policies
from storage.catalog.policy_targets import TargetPlan, retention_plans
from storage.errors import CatalogError, RecordNotFound

log = logging.getLogger(__name__)


def _plans(policy_id: str) -> tuple[Any, list[TargetPlan]]:
    with context.session() as s:
        policy = get_policy(session=s, policy_id=policy_id)
        return policy, retention_plans(session=s, policy=policy, now=utcnow())


def decision_rows(plans: list[TargetPlan]) -> list[dict[str, str]]:
    """One row per backup: its resource, the decision, and the rule or reason."""
    return [
        {
            "resource": target.resource_id,
            "backup": decision.backup_id,
            "created_at": created.isoformat(),
            "decision": verdict,
            "reason": decision.reason,
        }
        for target in plans
        for verdict, decision, created in target.verdicts()
    ]


async def _expire(policy: Any, target: TargetPlan, backup_id: str) -> tuple[int, str | None]:
    """Delete one expired backup (with its subtree) through a child run: how many
    backups went, and why not, if not."""
    flows = KIND_FLOWS[target.kind.name]
    try:
        with context.session() as s:
            row: Any = s.get(target.kind.backup, backup_id)
            if row is None:
                return 0, None  # already gone
            if row.status in target.kind.busy:
                # Became busy since the plan (another retention run deleting it, a
                # restore): its fate is decided again once it has settled.
                log.info("backup %s is %s now: left for the next run", backup_id, row.status)
                return 0, None
            started = target.kind.expire(s, row)
            name = f"{flows.delete} {subject(s, started.record)} retention of {len(started.rows)}"
    except CatalogError as exc:
        return 0, f"{backup_id}: not deleted: {exc}"
    run_id = await start_child(flows.delete, started, run_name=name, tags=run_tags(started.record))
    state = await wait_child(run_id)
    if state != "COMPLETED":
        return 0, f"{backup_id}: delete run {run_id} ended {state}"
    return len(started.rows), None


@flow(name="retention-sweep", flow_run_name="retention sweep")
async def retention_sweep() -> dict[str, Any]:
    """Apply every policy's retention (one apply-retention child each), on the sweep's
    own schedule; Failed, listing them, if any policy's retention failed."""
    with context.session() as s:
        ids = [p.id for p in list_policies(session=s) if p.retention is not None]
    problems = []
    for policy_id in ids:
        try:
            await apply_retention(policy_id=policy_id)
        except Exception as exc:
            problems.append(f"policy {policy_id}: {exc}")
    if problems:
        raise RuntimeError("; ".join(problems))
    return {"policies": len(ids)}


@flow(name="apply-retention", flow_run_name="apply-retention {policy_id}")
async def apply_retention(policy_id: str, dry_run: bool = False) -> dict[str, Any]:
    """Plan, publish and (unless ``dry_run``) delete what the policy no longer keeps.

    Rerunnable: a backup already gone is skipped. Raises RuntimeError listing the
    backups whose delete failed (they are error_deleting, with the reason)."""
    try:
        policy, plans = _plans(policy_id)
    except RecordNotFound:
        log.info("policy %s is gone: nothing to apply", policy_id)
        return {"kept": 0, "expired": 0, "deleted": 0}
    rows = decision_rows(plans)
    for row in rows:
        log.info(
            "policy %s: backup %s %s (%s)", policy_id, row["backup"], row["decision"], row["reason"]
        )
    await acreate_table_artifact(
        rows, key=f"retention-{policy_id}", description=f"retention of policy {policy.name}"
    )
    expired = sum(len(target.plan.expired) for target in plans)
    summary: dict[str, Any] = {"kept": len(rows) - expired, "expired": expired, "deleted": 0}
    if dry_run:
        return summary
    problems = []
    for target in plans:
        for backup_id in target.to_delete():
            deleted, problem = await _expire(policy, target, backup_id)
            summary["deleted"] += deleted
            if problem is not None:
                problems.append(problem)
    if problems:
        raise RuntimeError("retention could not delete: " + "; ".join(problems))
    return summary
