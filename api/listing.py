"""Cinder list query parameters (FIELDS.md 1.5) and the `<collection>_links` next link."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.datastructures import URL, QueryParams

from api.faults import Fault
from api.microversion import APIVersion

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

MAX_LIMIT: Final = 1000
COUNT_SINCE: Final = APIVersion(3, 45)
DEFAULT_SORT: Final = (("created_at", "desc"),)
_NOT_FILTERS: Final = frozenset(
    {"limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count", "all_tenants"}
)
_TRUE: Final = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE: Final = frozenset({"0", "false", "f", "no", "n", "off"})


@dataclass(frozen=True)
class ListQuery:
    """A parsed list request: paging, sorting, filters and the admin scope switch."""

    limit: int
    marker: str | None
    offset: int
    sort: tuple[tuple[str, str], ...]
    filters: dict[str, str]
    all_tenants: bool
    with_count: bool


def parse_bool(name: str, value: str) -> bool:
    """A boolean query value in any case (cinderclient sends "True"); 400 otherwise."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Fault(400, f"Invalid value '{value}' for {name}: it must be a boolean.")


def _non_negative(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise Fault(400, f"{name} param must be an integer") from None
    if number < 0:
        raise Fault(400, f"{name} param must be positive")
    return number


def _sort(params: QueryParams) -> tuple[tuple[str, str], ...]:
    sort, key, direction = params.get("sort"), params.get("sort_key"), params.get("sort_dir")
    if sort is not None and (key is not None or direction is not None):
        raise Fault(
            400,
            "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be "
            "used with the 'sort' parameter.",
        )
    if sort is not None:
        pairs = []
        for item in sort.split(","):
            name, _, order = item.strip().partition(":")
            if not name:
                raise Fault(400, f"Invalid sort parameter: '{sort}'")
            pairs.append((name.strip(), order.strip().lower() or "desc"))
        return tuple(pairs)
    if key is not None or direction is not None:
        return ((key or "created_at", (direction or "desc").lower()),)
    return DEFAULT_SORT


def parse_list_query(
    params: QueryParams,
    *,
    version: APIVersion,
    filter_keys: Collection[str],
    is_admin: bool = False,
) -> ListQuery:
    """Parse a list query; 400 for bad numbers, booleans or (from 3.31) unknown filters.

    Sort keys and directions are checked by the catalog. Before 3.31 Cinder silently
    drops filters it does not know, so that is what happens here too. Admins are never
    refused a filter: theirs are all kept, unknown ones included, for the caller to judge
    (Cinder lets admins filter on any column).
    """
    filters = {k: v for k, v in params.items() if k not in _NOT_FILTERS}
    unknown = sorted(set(filters) - set(filter_keys))
    if unknown and version >= (3, 31) and not is_admin:
        raise Fault(400, f"Invalid filter keys: {', '.join(unknown)}")
    limit = _non_negative("limit", params.get("limit"), MAX_LIMIT)
    return ListQuery(
        limit=min(limit or MAX_LIMIT, MAX_LIMIT),
        marker=params.get("marker") or None,
        offset=_non_negative("offset", params.get("offset"), 0),
        sort=_sort(params),
        filters=filters if is_admin else {k: v for k, v in filters.items() if k in filter_keys},
        all_tenants=parse_bool("all_tenants", params.get("all_tenants", "false")),
        with_count=parse_bool("with_count", params.get("with_count", "false")),
    )


def next_links(url: URL, rows: Sequence[Any], limit: int, collection: str) -> dict[str, Any]:
    """`{"<collection>_links": [next]}` when the page is full, else `{}`.

    The href is the request URL with `marker` = the last id (offset already consumed),
    absolute, because cinderclient follows it as is.
    """
    if not rows or len(rows) < limit:
        return {}
    kept = QueryParams(url.query).multi_items()
    query = [(k, v) for k, v in kept if k not in ("marker", "offset")]
    query.append(("marker", rows[-1].id))
    href = str(url.replace(query=urlencode(query)))
    return {f"{collection}_links": [{"href": href, "rel": "next"}]}


class Lister(Protocol[T_co]):
    """A catalog list function (storage.catalog.list_backups, list_snapshots)."""

    def __call__(
        self,
        *,
        session: Session,
        project_id: str | None,
        filters: Mapping[str, str] | None,
        sort: Sequence[tuple[str, str]],
        limit: int | None,
        marker: str | None,
        offset: int,
    ) -> tuple[Sequence[T_co], int]: ...


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list request: the parsed query, its rows and the total matching."""

    query: ListQuery
    rows: Sequence[T]
    total: int

    def body(
        self, url: URL, collection: str, items: list[dict[str, Any]], version: APIVersion
    ) -> dict[str, Any]:
        """`{collection: items}`, + the next link when the page is full, + `count` when
        asked for (with_count) from microversion 3.45."""
        body: dict[str, Any] = {collection: items}
        body.update(next_links(url, self.rows, self.query.limit, collection))
        if self.query.with_count and version >= COUNT_SINCE:
            body["count"] = self.total
        return body


def fetch_page(
    lister: Lister[T], *, session: Session, project_id: str | None, query: ListQuery
) -> Page[T]:
    """The page `query` asks for, of `project_id`'s rows (None: every project's).

    Raises what the catalog raises: InvalidRequest for a bad sort key, direction or
    filter, RecordNotFound for an unknown marker.
    """
    rows, total = lister(
        session=session,
        project_id=project_id,
        filters=query.filters,
        sort=query.sort,
        limit=query.limit,
        marker=query.marker,
        offset=query.offset,
    )
    return Page(query, rows, total)
