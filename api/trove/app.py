"""The Trove v1.0 app (its own port, settings.trove_port): datastores, instances, backups.

It shares the catalog lifespan, auth, fault table and launcher with the other apps
(api.service); only the routes and bodies are Trove's. Every route is under
`/v1.0/{project_id}`, as python-troveclient's endpoint names the project.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.launcher import Launcher
from api.routing import PROJECT_PARAM
from api.service import service_app
from api.trove.dialect import TROVE
from api.trove.routes import backups, datastores, instances, versions
from storage.settings import Settings

V1 = "/v1.0"


def create_trove_app(settings: Settings, launcher: Launcher | None = None) -> FastAPI:
    """The Trove API app; its lifespan opens the catalog and the launcher (Prefect by
    default). Raises TokenFileError when auth_mode=tokens and the tokens file is unusable."""
    app = service_app(
        settings,
        launcher,
        TROVE,
        title="Safehold (Trove v1.0)",
        summary="Trove-shaped database instances and backups; every operation is a flow run.",
    )
    app.include_router(versions.router)
    for router in (datastores.router, instances.router, backups.router):
        app.include_router(router, prefix=V1, dependencies=PROJECT_PARAM)
    return app
