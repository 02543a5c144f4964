"""Project routes, shared by the dialects: the `{project_id}` path parameter, a router's
project-less copy, and the URL tree ("v2" or "v3") a request came in on."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request
from fastapi.routing import APIRoute

from api.microversion import app_path

V3: Final = "v3"
V2: Final = "v2"
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


def tree_of(request: Request) -> str:
    """The tree the request's path is in: "v2" under /v2/ (Cinder v2, Manila), else "v3"."""
    return V2 if app_path(request.scope).startswith(f"/{V2}/") else V3
