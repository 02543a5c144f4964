"""The Cinder URL trees: every Cinder router is served under /v3 and again under /v2,
and a third time under /v3 without the project segment (Cinder 3.67).

v2 is v3 at microversion 3.0 (FIELDS.md 4): the same handlers, mounted a second time.
The microversion middleware only versions /v3, so a v2 request is served at 3.0 and
carries no OpenStack-API-Version header; microversion-gated fields and routes (update,
metadata, count, ...) are thereby absent from v2 without a line of v2-specific code.

Project-less URLs (`/v3/backups…`, `/v3/snapshots…`, `/v3/volumes…`) take the caller's
project from the token (api.auth.get_context). Cinder maps them at every microversion
(its routes are not versioned), so they are served at every v3 microversion here too;
v2 never had them. The project-route helpers themselves are api.routing's.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, FastAPI

from api.microversion import app_path
from api.routing import (
    PROJECT_PARAM,
    PROJECT_SEGMENT,
    V2,
    V3,
    declare_project,
    tree_of,
    without_project,
)

# Kept importable from here: the helpers that moved to api's top.
__all__ = [
    "PROJECT_PARAM",
    "PROJECT_SEGMENT",
    "TREES",
    "V2",
    "V3",
    "app_path",
    "declare_project",
    "include_cinder",
    "tree_of",
    "without_project",
]

TREES: Final = (V3, V2)


def include_cinder(app: FastAPI, *routers: APIRouter) -> None:
    """Mount each router (prefixed "/{project_id}/...") under /v3 and /v2, then its
    project-less copy under /v3."""
    for tree in TREES:
        for router in routers:
            app.include_router(router, prefix=f"/{tree}", dependencies=PROJECT_PARAM)
    for router in routers:
        app.include_router(without_project(router), prefix=f"/{V3}")
