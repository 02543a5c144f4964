"""One page of snapshots for GET /snapshots[/detail]: which filters apply at which mv.

Cinder's rules: `name`, `status`, `volume_id` always; `metadata` from 3.22 (dropped
before, admins' too); from 3.31 its resource-filter check takes `metadata`,
`availability_zone` and `consumes_quota` (documented as 3.65) from everyone and refuses
anything else from users. Before 3.31 filters users may not use are dropped.
`metadata` arrives as a Python-literal dict (python-cinderclient sends `str(dict)`); a
value that is not a dict matches nothing, as Cinder's database layer does.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Final

from fastapi import Request
from sqlmodel import Session

from api.auth import Context, list_project
from api.listing import ListQuery, Page, parse_bool, parse_list_query
from api.microversion import APIVersion
from storage import catalog
from storage.catalog import Snapshot

BASE_KEYS: Final = frozenset({"name", "status", "volume_id"})
# Filters that appear at a microversion (before it they are dropped, for admins too).
KEYS_SINCE: Final[Mapping[str, APIVersion]] = {
    "metadata": APIVersion(3, 22),
    "availability_zone": APIVersion(3, 31),
    "consumes_quota": APIVersion(3, 31),
}


def filter_keys(version: APIVersion) -> frozenset[str]:
    """The filters a user may send at `version`."""
    return BASE_KEYS | {key for key, since in KEYS_SINCE.items() if version >= since}


def parse_metadata(value: str) -> dict[str, str] | None:
    """The `metadata` filter as a dict of strings; None when it is not a dict literal."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(parsed, dict):
        return None
    return {str(key): str(item) for key, item in parsed.items()}


def snapshot_page(
    request: Request, context: Context, version: APIVersion, session: Session
) -> Page[Snapshot]:
    """The requested page in the caller's project (admin: all_tenants); Fault 400 for
    bad parameters, InvalidRequest / RecordNotFound as the catalog raises them."""
    query = parse_list_query(
        request.query_params,
        version=version,
        filter_keys=filter_keys(version),
        is_admin=context.is_admin,
    )
    filters = {
        key: value
        for key, value in query.filters.items()
        if key not in KEYS_SINCE or version >= KEYS_SINCE[key]
    }
    quota = filters.pop("consumes_quota", None)
    consumes_quota = None if quota is None else parse_bool("consumes_quota", quota)
    metadata = parse_metadata(filters.pop("metadata", "{}"))
    if metadata is None:
        return Page(query, [], 0)  # Cinder: a metadata filter that is no dict matches nothing
    return _fetch(session, query, context, filters, metadata, consumes_quota)


def _fetch(
    session: Session,
    query: ListQuery,
    context: Context,
    filters: dict[str, str],
    metadata: dict[str, str],
    consumes_quota: bool | None,
) -> Page[Snapshot]:
    rows, total = catalog.list_snapshots(
        session=session,
        project_id=list_project(context, query.all_tenants),
        filters=filters,
        metadata=metadata,
        consumes_quota=consumes_quota,
        sort=query.sort,
        limit=query.limit,
        marker=query.marker,
        offset=query.offset,
    )
    return Page(query, rows, total)
