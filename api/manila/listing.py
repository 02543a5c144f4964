"""Manila list queries: filters, sort_key/sort_dir, limit/offset and the admin scope switch.

As Manila, filters a caller may not use are dropped silently; sort keys and directions
are checked by the catalog (400). Deviation: a non-admin's true `all_tenants` /
`all_projects` is refused (403) instead of silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from sqlmodel import Session
from starlette.datastructures import QueryParams

from api.auth import Context, require_admin
from api.faults import Fault
from api.listing import parse_bool

T = TypeVar("T")

MAX_LIMIT: Final = 1000
_SCOPE_KEYS: Final = ("all_tenants", "all_projects")


@dataclass(frozen=True)
class ManilaQuery:
    """A parsed list request."""

    filters: dict[str, str]
    sort: tuple[tuple[str, str], ...]
    limit: int | None
    offset: int
    project_id: str | None  # None: every project (an admin's all_tenants)


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        limit = int(value)
    except ValueError:
        raise Fault(400, "limit param must be an integer") from None
    if limit < 0:
        raise Fault(400, "limit param must be positive")
    return min(limit, MAX_LIMIT)


def _offset(value: str | None) -> int:
    if value is None:
        return 0
    try:
        offset = int(value)
    except ValueError:
        raise Fault(400, f"Invalid offset: '{value}' must be an integer") from None
    if offset < 0:
        raise Fault(400, "Invalid offset: offset must be >= 0")
    return offset


def list_scope(params: QueryParams, context: Context, policy: str) -> str | None:
    """The project a list covers: None (all) for an admin's true all_tenants/all_projects;
    403 for anyone else's."""
    raw = next((params[key] for key in _SCOPE_KEYS if key in params), None)
    if raw is None or not parse_bool("all_tenants", raw):
        return context.project_id
    require_admin(context, policy)
    return None


def parse_query(
    params: QueryParams,
    context: Context,
    *,
    filters: Collection[str],
    admin_filters: Collection[str] = (),
    aliases: Mapping[str, str] | None = None,
    sort_aliases: Mapping[str, str] | None = None,
    policy: str,
) -> ManilaQuery:
    """Parse a Manila list query; `aliases` rename filter keys, `sort_aliases` sort keys."""
    allowed = set(filters) | (set(admin_filters) if context.is_admin else set())
    renamed = aliases or {}
    kept = {renamed.get(k, k): v for k, v in params.items()}
    sort_key = params.get("sort_key", "created_at")
    sort_key = (sort_aliases or {}).get(sort_key, sort_key)
    sort_dir = params.get("sort_dir", "desc").strip().lower()
    return ManilaQuery(
        filters={k: v for k, v in kept.items() if k in allowed},
        sort=((sort_key, sort_dir),),
        limit=_limit(params.get("limit")),
        offset=_offset(params.get("offset")),
        project_id=list_scope(params, context, policy),
    )


def fetch_rows(
    lister: Callable[..., tuple[Sequence[T], int]], session: Session, query: ManilaQuery
) -> list[T]:
    """The rows `query` asks for of a catalog list function (shares.list_shares, ...);
    Manila lists carry no count. InvalidRequest as the catalog raises it (bad sort)."""
    rows, _ = lister(
        session=session,
        project_id=query.project_id,
        filters=query.filters,
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
    )
    return list(rows)
