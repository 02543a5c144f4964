"""Compare-and-set status changes: the only way catalog rows change status."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import Session, SQLModel

from storage.catalog.models import utcnow
from storage.errors import InvalidStatus

T = TypeVar("T", bound=SQLModel)


def compare_and_set(
    session: Session,
    model: type[T],
    record_id: str,
    *,
    to: str,
    expected: Collection[str],
    where: Collection[Any] = (),
    **values: Any,
) -> bool:
    """Set status `to` (and `values`) iff the row's status is in `expected`; no commit.

    `where` adds conditions the same atomic UPDATE must also meet. Returns False when
    the row is missing or in another status, so that a repeated call (a retried task, a
    hook racing the API) is a harmless no-op.
    """
    table: Any = model
    stmt = (
        update(table)
        .where(table.id == record_id, table.status.in_(list(expected)), *where)
        .values(status=to, updated_at=utcnow(), **values)
    )
    result: Any = session.exec(stmt)
    return bool(result.rowcount)


def require(changed: bool, message: str) -> None:
    """Raise InvalidStatus(message) when a compare-and-set did not apply."""
    if not changed:
        raise InvalidStatus(message)
