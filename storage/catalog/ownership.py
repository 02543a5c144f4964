"""A flow run acts only on rows it still owns (docs/states.md "Ownership").

A row is owned by a run while it is in a status of that run's transition and its
``flow_run_id`` names the run (or is still empty: the API records the id just after
submitting the run, and every begin step clears the previous one). Flow steps check
ownership before touching data and make their terminal change with the same condition
in the compare-and-set, so a run whose row was reset, failed by a hook or taken over by
a newer operation changes nothing and stops.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import or_
from sqlmodel import Session, SQLModel

from storage.errors import LostOwnership

T = TypeVar("T", bound=SQLModel)


def owner_where(model: type[SQLModel], run_ids: Collection[str]) -> list[Any]:
    """Compare-and-set conditions: the row's run is one of ``run_ids`` or not recorded yet;
    none when ``run_ids`` is empty (a caller outside any run: the API, an admin)."""
    if not run_ids:
        return []
    table: Any = model
    return [or_(table.flow_run_id.is_(None), table.flow_run_id.in_(list(run_ids)))]


def owns(row: Any, statuses: Collection[str], run_ids: Collection[str]) -> bool:
    """True iff ``row`` is in ``statuses`` and driven by one of ``run_ids`` (or by none yet)."""
    return row.status in statuses and (row.flow_run_id is None or row.flow_run_id in run_ids)


def require_owned(
    *,
    session: Session,
    model: type[T],
    record_id: str,
    statuses: Collection[str],
    run_ids: Collection[str],
) -> T:
    """The row, fresh from the database; LostOwnership saying why unless the run owns it."""
    session.expire_all()
    row: Any = session.get(model, record_id)
    kind = model.__name__.lower()
    runs = ", ".join(run_ids) or "(none)"
    if row is None:
        raise LostOwnership(f"{kind} {record_id} is gone; run {runs} stops")
    if not owns(row, statuses, run_ids):
        raise LostOwnership(
            f"{kind} {record_id} is {row.status} (run {row.flow_run_id or 'none'}), no "
            f"longer {'/'.join(sorted(statuses))} by run {runs}: this run stops and "
            "changes nothing"
        )
    result: T = row
    return result


def require_deleting(
    *, session: Session, model: type[SQLModel], record_id: str, run_ids: Collection[str]
) -> None:
    """LostOwnership unless the row is gone or deleting by one of ``run_ids`` (the one
    deleting status of backups, volumes and snapshots); no check without ``run_ids``."""
    if run_ids and session.get(model, record_id) is not None:
        require_owned(
            session=session,
            model=model,
            record_id=record_id,
            statuses={"deleting"},
            run_ids=run_ids,
        )
