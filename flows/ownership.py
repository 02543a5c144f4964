"""Which flow runs a step acts for, and the per-block ownership check of data movement.

A flow passes ``current_runs()`` to every task that changes a row or writes data; the
catalog then acts only while the row is still in this run's transition
(storage.catalog.ownership). A child run acting for its parent (a cascade member's
delete) adds the parent's id.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from prefect.runtime import flow_run

from flows import context
from storage.catalog import KINDS
from storage.catalog.ownership import require_owned


def current_runs(*acting_for: str | None) -> tuple[str, ...]:
    """This flow run's id and the ids of the runs it acts for; empty outside a run."""
    ids = [flow_run.get_id(), *acting_for]
    return tuple(str(run_id) for run_id in ids if run_id)


def require(kind: str, record_id: str, statuses: Collection[str], run_ids: Collection[str]) -> Any:
    """The row, fresh; LostOwnership unless it is in ``statuses`` and driven by ``run_ids``."""
    with context.session() as s:
        return require_owned(
            session=s,
            model=KINDS[kind].model,
            record_id=record_id,
            statuses=statuses,
            run_ids=run_ids,
        )
