"""One page of backups for GET /backups[/detail]: who may filter or sort on what, per mv.

Cinder's rules (FIELDS.md 1.5): filters name, status, volume_id; `name~` etc. substring
filters from 3.34; sorting by `name` from 3.37 (`display_name` always works, and is what
cinderclient sends); admins may filter on catalog columns too, and a filter no backup
can match lists nothing rather than everything.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request
from sqlmodel import Session

from api.auth import Context, list_project
from api.faults import Fault
from api.listing import ListQuery, Page, fetch_page, parse_list_query
from api.microversion import APIVersion
from api.views.common import ViewContext
from storage import catalog
from storage.catalog import Backup
from storage.catalog.backup_filters import ADMIN_KEYS, LIKE_KEYS, USER_KEYS

LIKE_FILTERS_SINCE: Final = APIVersion(3, 34)
SORT_BY_NAME_SINCE: Final = APIVersion(3, 37)


def _filter_keys(version: APIVersion) -> frozenset[str]:
    return USER_KEYS | LIKE_KEYS if version >= LIKE_FILTERS_SINCE else USER_KEYS


def backup_list_query(request: Request, context: Context, version: APIVersion) -> ListQuery:
    """The parsed query; Fault 400 for what this caller may not ask at this microversion."""
    query = parse_list_query(
        request.query_params,
        version=version,
        filter_keys=_filter_keys(version),
        is_admin=context.is_admin,
    )
    if version < SORT_BY_NAME_SINCE and any(key == "name" for key, _ in query.sort):
        raise Fault(
            400,
            "Invalid input received: Invalid sort key name; sorting backups by name "
            f"needs microversion {SORT_BY_NAME_SINCE} (display_name works at any).",
        )
    return query


def backup_page(
    request: Request, context: Context, view: ViewContext, session: Session
) -> Page[Backup]:
    """The requested page in the caller's project (admin: all_tenants); Fault 400 as
    backup_list_query, InvalidRequest / RecordNotFound as the catalog raises them."""
    query = backup_list_query(request, context, view.version)
    columns = _filter_keys(view.version) | ADMIN_KEYS
    if any(key not in columns for key in query.filters):
        return Page(query, [], 0)  # an admin's filter on something backups do not have
    project = list_project(context, query.all_tenants)
    return fetch_page(catalog.list_backups, session=session, project_id=project, query=query)
