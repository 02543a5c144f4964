"""The FastAPI application: `create_app(settings)` builds everything in its lifespan."""

from __future__ import annotations

from fastapi import FastAPI

from api.cinder.microversion import CINDER
from api.cinder.routes import backup_actions, backups, snapshots, versions, volumes
from api.cinder.routes import records as record_routes
from api.cinder.trees import include_cinder
from api.launcher import Launcher
from api.native import catalog as catalog_routes
from api.native import policies as policy_routes
from api.native import progress as progress_routes
from api.routing import PROJECT_PARAM
from api.service import service_app
from storage.settings import Settings


def create_app(settings: Settings, launcher: Launcher | None = None) -> FastAPI:
    """The API app; its lifespan opens the catalog and the launcher (Prefect by default).

    Raises TokenFileError when auth_mode=tokens and the tokens file is unusable."""

    app = service_app(
        settings,
        launcher,
        CINDER,
        title="Safehold",
        summary="OpenStack-shaped backup API; every operation is a Prefect flow run.",
    )
    app.include_router(versions.router)
    include_cinder(
        app,
        record_routes.router,
        backups.router,
        backup_actions.router,
        volumes.router,
        snapshots.router,
    )
    app.include_router(catalog_routes.router, dependencies=PROJECT_PARAM)
    app.include_router(progress_routes.router, dependencies=PROJECT_PARAM)
    app.include_router(policy_routes.router, dependencies=PROJECT_PARAM)
    return app
