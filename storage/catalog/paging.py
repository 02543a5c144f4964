"""Cinder list semantics over any table: sort keys, marker, offset, limit, total count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from storage.errors import InvalidRequest, RecordNotFound

T = TypeVar("T", bound=SQLModel)


def page(
    session: Session,
    stmt: SelectOfScalar[T],
    model: type[T],
    *,
    sort_keys: Mapping[str, str],
    sort: Sequence[tuple[str, str]],
    limit: int | None,
    marker: str | None,
    offset: int,
) -> tuple[list[T], int]:
    """One page of `stmt`'s rows and the total matching count.

    InvalidRequest for a sort key outside `sort_keys` (wire name -> column) or a bad
    direction; RecordNotFound for a marker that is not among the matching rows.
    """
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    order = _order_by(model, sort_keys, sort)
    start = offset
    if marker is not None:
        # Only the ordered ids are read to place the marker; the page itself is fetched
        # with OFFSET/LIMIT, so no request loads every matching row.
        id_column = col(getattr(model, "id"))  # noqa: B009 (T has no declared id)
        ids_stmt: Any = stmt.with_only_columns(id_column).order_by(*order)
        ids = list(session.exec(ids_stmt))
        if marker not in ids:
            raise RecordNotFound("Marker", marker)
        start = ids.index(marker) + 1 + offset
    rows = list(session.exec(stmt.order_by(*order).offset(start).limit(limit)))
    return rows, int(total)


def _order_by(
    model: type[SQLModel], sort_keys: Mapping[str, str], sort: Sequence[tuple[str, str]]
) -> list[Any]:
    clauses: list[Any] = []
    for key, direction in sort:
        if key not in sort_keys:
            raise InvalidRequest(f"Invalid sort key: {key}")
        if direction not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid sort direction: {direction}")
        column = col(getattr(model, sort_keys[key]))
        clauses.append(column.asc() if direction == "asc" else column.desc())
    # A stable tiebreak keeps markers meaningful when keys collide.
    clauses.append(col(getattr(model, "id")).desc())  # noqa: B009
    return clauses


def list_page(
    session: Session,
    model: type[T],
    *,
    project_id: str | None,
    clauses: Iterable[Any],
    sort_keys: Mapping[str, str],
    sort: Sequence[tuple[str, str]],
    limit: int | None,
    marker: str | None = None,
    offset: int = 0,
) -> tuple[list[T], int]:
    """One page of ``model``'s rows of a project (all projects when None) that meet every
    clause, and the total matching count; InvalidRequest/RecordNotFound as ``page``."""
    table: Any = model
    stmt = select(model)
    if project_id is not None:
        stmt = stmt.where(table.project_id == project_id)
    for clause in clauses:
        stmt = stmt.where(clause)
    return page(
        session,
        stmt,
        model,
        sort_keys=sort_keys,
        sort=sort,
        limit=limit,
        marker=marker,
        offset=offset,
    )
