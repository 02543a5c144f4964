"""Following a flow run the Safehold API only hands out the id of, through Prefect's REST
API (`SAFEHOLD_PREFECT_URL`): catalog rebuilds, garbage collections, retention runs."""

from __future__ import annotations

from typing import Final

from deployments.client.context import Cli
from deployments.client.http import Body
from deployments.client.waiting import Probe, Reading

ENDED: Final = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def run_probe(cli: Cli, run_id: str) -> Probe:
    """The run's state until it is final; anything but COMPLETED is a failure."""

    def probe() -> Reading:
        run = cli.prefect.get(f"/flow_runs/{run_id}")
        state = run.get("state") or {}
        kind = str(state.get("type") or run.get("state_type") or "PENDING")
        return Reading(
            str(state.get("name") or kind),
            finished=kind in ENDED,
            failed=kind in ENDED and kind != "COMPLETED",
            reason=state.get("message"),
        )

    return probe


def follow_run(cli: Cli, run_id: str, what: str) -> Reading:
    """A spinner with the run's state until it ends; OperationFailed unless it completed."""
    return cli.follow(run_probe(cli, run_id), kind=what, rid=run_id)


def report_run(
    cli: Cli, body: Body, run_id: str, what: str, wait: bool, as_json: bool, subject: str = ""
) -> None:
    """`<subject><what> <id> started`, or with --wait the state it ended in."""
    status = follow_run(cli, run_id, what).status if wait else "started"
    cli.out(as_json).line(body, f"{subject}{what} {run_id} {status}")
