"""FastAPI dependencies as Annotated aliases; everything comes from `app.state`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlmodel import Session

from api.auth import Context, get_context, url_project
from api.microversion import APIVersion, served_version
from api.routing import tree_of
from api.runs import Runs
from api.views.common import ViewContext
from storage.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return cast(Settings, request.app.state.settings)


def get_session(request: Request) -> Iterator[Session]:
    """One catalog session per request, closed afterwards."""
    with Session(request.app.state.engine) as session:
        yield session


def get_runs(request: Request) -> Runs:
    """The launcher, usable from the worker thread a route runs in (made by the lifespan)."""
    return cast(Runs, request.app.state.runs)


def get_api_version(request: Request) -> APIVersion:
    """The microversion the app's VersionMiddleware negotiated (its dialect's lowest
    outside the versioned paths: Cinder's v2 is 3.0)."""
    return served_version(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
RunsDep = Annotated[Runs, Depends(get_runs)]
VersionDep = Annotated[APIVersion, Depends(get_api_version)]
ContextDep = Annotated[Context, Depends(get_context)]


def get_view(request: Request, context: ContextDep, version: VersionDep) -> ViewContext:
    """What the views need to know about this request."""
    base_url = str(request.base_url).rstrip("/")
    project = context.project_id if url_project(request) is not None else None
    return ViewContext(base_url, project, version, context.is_admin, tree_of(request))


ViewDep = Annotated[ViewContext, Depends(get_view)]
