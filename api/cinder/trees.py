"""The Cinder URL trees: every Cinder router is served under /v3 and again under /v2,
and a third time under /v3 without the project segment (Cinder 3.67).

v2 is v3 at microversion 3.0 (FIELDS.md 4): the same handlers, mounted a second time.
The microversion middleware only versions /v3, so a v2 request is served at 3.0 and
carries no OpenStack-API-Version header; microversion-gated fields and routes (update,
metadata, count, ...) are thereby absent from v2 without a line of v2-specific code.

Project-less URLs (`/v3/backups…`, `/v3/snapshots…`, `/v3/volumes…`) take the caller's
project from the token (api.auth.get_context). Cinder maps them at every microversion
(its routes are not versioned), so they are served at every v3 microversion here too;
v2 never had them.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.routing import APIRoute
from starlette.types import Scope

V3: Final = "v3"
V2: Final = "v2"
TREES: Final = (V3, V2)
PROJECT_SEGMENT: Final = "/{project_id}"
# What a project route is made with, copied onto its project-less twin.
_ROUTE_OPTIONS: Final = (
    "response_model",
    "status_code",
    "tags",
    "dependencies",
    "summary",
    "description",
    "response_description",
    "responses",
    "deprecated",
    "methods",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "name",
    "callbacks",
    "openapi_extra",
    "generate_unique_id_function",
    "strict_content_type",
)


def declare_project(project_id: Annotated[str, Path()]) -> str:
    """Declare the `{project_id}` path parameter (OpenAPI); api.auth reads it."""
    return project_id


# Router-level dependency of every route whose path has a `{project_id}`.
PROJECT_PARAM: Final = [Depends(declare_project)]


def include_cinder(app: FastAPI, *routers: APIRouter) -> None:
    """Mount each router (prefixed "/{project_id}/...") under /v3 and /v2, then its
    project-less copy under /v3."""
    for tree in TREES:
        for router in routers:
            app.include_router(router, prefix=f"/{tree}", dependencies=PROJECT_PARAM)
    for router in routers:
        app.include_router(without_project(router), prefix=f"/{V3}")


def without_project(router: APIRouter) -> APIRouter:
    """A router with the same routes minus their leading `/{project_id}` segment;
    ValueError for a route that has none."""
    copy = APIRouter()
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(f"{PROJECT_SEGMENT}/"):
            raise ValueError(f"not a project route: {route!r}")
        options: dict[str, Any] = {name: getattr(route, name) for name in _ROUTE_OPTIONS}
        copy.add_api_route(route.path.removeprefix(PROJECT_SEGMENT), route.endpoint, **options)
    return copy


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
