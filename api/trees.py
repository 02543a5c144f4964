"""The Cinder URL trees: every Cinder router is served under /v3 and again under /v2.

v2 is v3 at microversion 3.0 (FIELDS.md 4): the same handlers, mounted a second time.
The microversion middleware only versions /v3, so a v2 request is served at 3.0 and
carries no OpenStack-API-Version header; microversion-gated fields and routes (update,
metadata, count, ...) are thereby absent from v2 without a line of v2-specific code.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, FastAPI, Request
from starlette.types import Scope

V3: Final = "v3"
V2: Final = "v2"
TREES: Final = (V3, V2)


def include_cinder(app: FastAPI, *routers: APIRouter) -> None:
    """Mount each router (prefixed "/{project_id}/...") under /v3 and under /v2."""
    for tree in TREES:
        for router in routers:
            app.include_router(router, prefix=f"/{tree}")


def app_path(scope: Scope) -> str:
    """The request's path inside the app: `path` without the `root_path` it is mounted at."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def tree_of(request: Request) -> str:
    """The tree ("v2" or "v3") the request's path is in; v3 for anything else."""
    return V2 if app_path(request.scope).startswith(f"/{V2}/") else V3
