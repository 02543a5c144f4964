"""The Trove v1.0 app (its own port, settings.trove_port): datastores, instances, backups.

It shares the catalog lifespan, auth, fault table and launcher with the other apps
(api.service); only the routes and bodies are Trove's. Every route is under
`/v1.0/{project_id}`, as python-troveclient's endpoint names the project.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.faults import fault_response
from api.launcher import Launcher
from api.routing import PROJECT_PARAM
from api.service import service_app
from api.trove.dialect import TROVE
from api.trove.routes import backups, datastores, instances, versions
from storage.errors import InvalidStatus
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
    app.add_exception_handler(InvalidStatus, _unprocessable)
    app.include_router(versions.router)
    for router in (datastores.router, instances.router, backups.router):
        app.include_router(router, prefix=V1, dependencies=PROJECT_PARAM)
    return app


async def _unprocessable(_request: Request, exc: Exception) -> JSONResponse:
    """Trove answers an operation the resource's status forbids with 422 (Cinder: 400)."""
    return fault_response(422, str(exc))
