"""`safehold policy`: backup policies (schedule + retention) on Safehold's /v1 API."""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer

from deployments.client.context import Cli, state
from deployments.client.options import AllProjectsOpt, DescriptionOpt, JsonOpt, WaitOpt
from deployments.client.output import ID_NAME_STATUS, Column, Row, when
from deployments.client.parsing import pairs
from deployments.client.policy_spec import (
    Retention,
    mode_body,
    retention_body,
    schedule_body,
    targets_body,
    window_seconds,
)
from deployments.client.resources import list_rows
from deployments.client.runs import report_run
from deployments.client.waiting import Probe, Reading

app = typer.Typer(help="Backup policies: schedules and retention.", no_args_is_help=True)

PolicyId = Annotated[str, typer.Argument(help="Policy id.")]
Resource = Annotated[str | None, typer.Option("--resource", help="One resource by id.")]
Metadata = Annotated[
    list[str] | None,
    typer.Option("--metadata", metavar="KEY=VALUE", help="Every resource of the kind with it."),
]
Cron = Annotated[str | None, typer.Option("--cron", help="Cron expression, e.g. '0 2 * * *'.")]
Timezone = Annotated[str | None, typer.Option("--timezone", help="Of the cron schedule.")]
Every = Annotated[str | None, typer.Option("--every", help="Interval, e.g. 1h or 30m.")]
FullRuns = Annotated[int | None, typer.Option("--full-every-runs", min=1, help="Full every N.")]
FullDays = Annotated[int | None, typer.Option("--full-every-days", min=1, help="Full every K d.")]
Window = Annotated[str | None, typer.Option("--window", help="Start window, e.g. 10m.")]
KeepLast = Annotated[int | None, typer.Option("--keep-last", min=0, help="Newest N.")]
KeepHourly = Annotated[int | None, typer.Option("--keep-hourly", min=0, help="Last of N hours.")]
KeepDaily = Annotated[int | None, typer.Option("--keep-daily", min=0, help="Last of N days.")]
KeepWeekly = Annotated[int | None, typer.Option("--keep-weekly", min=0, help="Last of N weeks.")]
KeepMonthly = Annotated[int | None, typer.Option("--keep-monthly", min=0, help="N months.")]
KeepYearly = Annotated[int | None, typer.Option("--keep-yearly", min=0, help="N years.")]
Within = Annotated[str | None, typer.Option("--keep-within", help="Keep all within, e.g. 7d.")]
Floor = Annotated[int | None, typer.Option("--floor", min=0, help="Never keep fewer.")]
RetentionTz = Annotated[
    str | None, typer.Option("--retention-timezone", help="Calendar of the keep rules.")
]
COLUMNS: Final[tuple[Column, ...]] = (
    *ID_NAME_STATUS,
    ("Kind", lambda row: (row.get("targets") or {}).get("kind")),
    ("Schedule", lambda row: schedule_text(row.get("schedule") or {})),
    ("Next run", when("next_run_at")),
    ("Last run", "last_run_state"),
)
VERDICTS: Final[tuple[Column, ...]] = (
    ("Backup", "id"),
    ("Resource", "resource_id"),
    ("Created", when("created_at")),
    ("Verdict", "verdict"),
    ("Reason", "reason"),
)
ENDED: Final = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED", "CANCELED"})


def schedule_text(schedule: Row) -> str:
    """`cron 0 2 * * * (UTC)` or `every 3600 s`."""
    if schedule.get("cron"):
        return f"cron {schedule['cron']} ({schedule.get('timezone') or 'UTC'})"
    if schedule.get("interval_seconds"):
        return f"every {schedule['interval_seconds']} s"
    return ""


def _put_policy(cli: Cli, as_json: bool, body: dict[str, Any]) -> None:
    cli.out(as_json).record(body, body["policy"], ("id", "name", "status"))


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Policy name.")],
    kind: Annotated[str, typer.Option("--kind", help="volume, share or instance.")],
    resource: Resource = None,
    metadata: Metadata = None,
    cron: Cron = None,
    timezone: Timezone = None,
    every: Every = None,
    full_every_runs: FullRuns = None,
    full_every_days: FullDays = None,
    window: Window = None,
    keep_last: KeepLast = None,
    keep_hourly: KeepHourly = None,
    keep_daily: KeepDaily = None,
    keep_weekly: KeepWeekly = None,
    keep_monthly: KeepMonthly = None,
    keep_yearly: KeepYearly = None,
    keep_within: Within = None,
    floor: Floor = None,
    retention_timezone: RetentionTz = None,
    description: DescriptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a policy: what to back up, when, and which backups to keep."""
    cli = state(ctx)
    schedule = schedule_body(cron, every, timezone, None)
    if schedule is None:
        raise typer.BadParameter("give --cron or --every")
    retention = Retention(
        keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly,
        keep_within, floor, retention_timezone,
    )  # fmt: skip
    spec: dict[str, Any] = {
        "name": name,
        "targets": targets_body(kind, resource, pairs(metadata, "--metadata")),
        "schedule": schedule,
    }
    optional = {
        "description": description,
        "mode": mode_body(full_every_runs, full_every_days, None),
        "start_window_seconds": window_seconds(window),
        "retention": retention_body(retention) if retention.given() else None,
    }
    spec |= {k: v for k, v in optional.items() if v is not None}
    _put_policy(cli, as_json, cli.native.post("/policies", {"policy": spec}))


@app.command("update")
def update(
    ctx: typer.Context,
    policy_id: PolicyId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="volume, share or instance.")] = None,
    resource: Resource = None,
    metadata: Metadata = None,
    cron: Cron = None,
    timezone: Timezone = None,
    every: Every = None,
    full_every_runs: FullRuns = None,
    full_every_days: FullDays = None,
    window: Window = None,
    keep_last: KeepLast = None,
    keep_hourly: KeepHourly = None,
    keep_daily: KeepDaily = None,
    keep_weekly: KeepWeekly = None,
    keep_monthly: KeepMonthly = None,
    keep_yearly: KeepYearly = None,
    keep_within: Within = None,
    floor: Floor = None,
    retention_timezone: RetentionTz = None,
    no_retention: Annotated[
        bool, typer.Option("--no-retention", help="Keep every backup it makes.")
    ] = False,
    description: DescriptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a policy; nested settings not named keep their current values."""
    cli = state(ctx)
    current = cli.native.get(f"/policies/{policy_id}")["policy"]
    retention = Retention(
        keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly,
        keep_within, floor, retention_timezone,
    )  # fmt: skip
    if no_retention and retention.given():
        raise typer.BadParameter("--no-retention excludes the keep options")
    spec: dict[str, Any] = {"name": name, "description": description}
    if kind is not None or resource is not None or metadata is not None:
        found = pairs(metadata, "--metadata")
        spec["targets"] = targets_body(kind, resource, found, current.get("targets"))
    spec["schedule"] = schedule_body(cron, every, timezone, current.get("schedule"))
    spec["mode"] = mode_body(full_every_runs, full_every_days, current.get("mode"))
    spec["start_window_seconds"] = window_seconds(window)
    if retention.given():
        spec["retention"] = retention_body(retention, current.get("retention"))
    changes = {k: v for k, v in spec.items() if v is not None}
    if no_retention:
        changes["retention"] = None
    if not changes:
        raise typer.BadParameter("nothing to change")
    _put_policy(cli, as_json, cli.native.put(f"/policies/{policy_id}", {"policy": changes}))


@app.command("list")
def list_(ctx: typer.Context, everyone: AllProjectsOpt = False, as_json: JsonOpt = False) -> None:
    """List policies."""
    cli = state(ctx)
    params = {"all_projects": everyone or None}
    list_rows(cli, cli.native, "/policies", "policies", COLUMNS, as_json, params)


@app.command("show")
def show(ctx: typer.Context, policy_id: PolicyId, as_json: JsonOpt = False) -> None:
    """Show a policy with its last and next run."""
    cli = state(ctx)
    _put_policy(cli, as_json, cli.native.get(f"/policies/{policy_id}"))


@app.command("pause")
def pause(ctx: typer.Context, policy_id: PolicyId, as_json: JsonOpt = False) -> None:
    """Stop starting runs (a run in progress goes on)."""
    cli = state(ctx)
    _put_policy(cli, as_json, cli.native.post(f"/policies/{policy_id}/pause"))


@app.command("resume")
def resume(ctx: typer.Context, policy_id: PolicyId, as_json: JsonOpt = False) -> None:
    """Start runs again."""
    cli = state(ctx)
    _put_policy(cli, as_json, cli.native.post(f"/policies/{policy_id}/resume"))


@app.command("delete")
def delete(ctx: typer.Context, policy_id: PolicyId, as_json: JsonOpt = False) -> None:
    """Delete a policy (its backups are kept)."""
    cli = state(ctx)
    body = cli.native.delete(f"/policies/{policy_id}")
    cli.out(as_json).line(body, f"policy {policy_id} deleted")


def run_probe(cli: Cli, policy_id: str, run_id: str) -> Probe:
    """The policy's view of its run `run_id`, until that run's state is final."""

    def probe() -> Reading:
        policy = cli.native.get(f"/policies/{policy_id}")["policy"]
        if policy.get("last_run_flow_run_id") != run_id:
            return Reading("scheduled")
        state_name = str(policy.get("last_run_state") or "pending")
        ended = state_name.upper() in ENDED
        failed = ended and state_name.upper() != "COMPLETED"
        reason = (policy.get("last_run_reason") or f"see flow run {run_id}") if failed else None
        return Reading(state_name, finished=ended, failed=failed, reason=reason)

    return probe


@app.command("run")
def run(
    ctx: typer.Context, policy_id: PolicyId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Run a policy now, outside its schedule."""
    cli = state(ctx)
    body = cli.native.post(f"/policies/{policy_id}/run")
    run_id = body["run"]["flow_run_id"]
    if not wait:
        cli.out(as_json).line(body, f"policy {policy_id}: run {run_id} started")
        return
    reading = cli.follow(run_probe(cli, policy_id, run_id), kind="policy run", rid=run_id)
    final = cli.native.get(f"/policies/{policy_id}")
    cli.out(as_json).line(final, f"policy {policy_id}: run {run_id} {reading.status}")


def _verdicts(plan: Row) -> list[dict[str, Any]]:
    kept = [{**row, "verdict": "keep"} for row in plan.get("kept", [])]
    return kept + [{**row, "verdict": "expire"} for row in plan.get("expired", [])]


@app.command("retention")
def retention(
    ctx: typer.Context,
    policy_id: PolicyId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Apply the policy's retention now (--dry-run: show the verdicts only)."""
    cli = state(ctx)
    body = cli.native.post(f"/policies/{policy_id}/retention", {"dry_run": dry_run})
    plan = body["retention"]
    if dry_run:
        cli.out(as_json).rows(body, _verdicts(plan), VERDICTS)
        return
    subject = f"policy {policy_id}: "
    report_run(cli, body, plan["flow_run_id"], "retention run", wait, as_json, subject)
