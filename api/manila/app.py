"""The Manila v2 app (its own port, settings.manila_port): shares and share backups.

It shares the catalog lifespan, auth, fault table and launcher with the Cinder app
(api.service); only the microversion dialect, the routes and the bodies are Manila's.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from api.launcher import Launcher
from api.manila.microversion import MANILA
from api.manila.routes import (
    share_actions,
    share_backup_actions,
    share_backups,
    share_extras,
    shares,
    versions,
)
from api.routing import PROJECT_PARAM, without_project
from api.service import service_app
from storage.settings import Settings

V2 = "/v2"


def include_manila(app: FastAPI, *routers: APIRouter) -> None:
    """Mount each router (prefixed "/{project_id}/...") under /v2, then its project-less
    copy (python-manilaclient's `URL/v2` endpoint takes the project from the token)."""
    for router in routers:
        app.include_router(without_project(router), prefix=V2)
    for router in routers:
        app.include_router(router, prefix=V2, dependencies=PROJECT_PARAM)


def create_manila_app(settings: Settings, launcher: Launcher | None = None) -> FastAPI:
    """The Manila API app; its lifespan opens the catalog and the launcher (Prefect by
    default). Raises TokenFileError when auth_mode=tokens and the tokens file is unusable."""
    app = service_app(
        settings,
        launcher,
        MANILA,
        title="Safehold (Manila v2)",
        summary="Manila-shaped shares and share backups; every operation is a Prefect flow run.",
    )
    app.include_router(versions.router)
    include_manila(
        app,
        share_actions.router,
        shares.router,
        share_extras.router,
        share_backups.router,
        share_backup_actions.router,
    )
    return app
