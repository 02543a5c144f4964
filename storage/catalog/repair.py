"""How a run's end is told: the states after which a run never moves its row on, and
the fail_reason recorded for it. Repairing a row is storage.catalog.kinds.repair_after_run."""

from __future__ import annotations

# Prefect state types after which a run will never move the row on.
ENDED_BADLY = frozenset({"FAILED", "CRASHED", "CANCELLED"})


def run_end_reason(flow_run_id: str, state_type: str | None, message: str | None) -> str:
    """The fail_reason recorded for a run that ended without finishing its record."""
    if state_type is None:
        return f"flow run {flow_run_id} no longer exists"
    detail = f": {message}" if message else ""
    return f"flow run {flow_run_id} {state_type.lower()}{detail}"
