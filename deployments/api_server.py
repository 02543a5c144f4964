"""Run the API façades under uvicorn with the process's SAFEHOLD_* settings.

Cinder (api_port), Manila (manila_port) and Trove (trove_port) are three apps on three
ports, as in OpenStack (their version documents and paths collide), served by one process
and event loop.
"""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.manila.app import create_manila_app
from api.trove.app import create_trove_app
from deployments.prefect_tls import share_verified_contexts
from storage.settings import Settings


def _server(app: FastAPI, settings: Settings, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


async def serve(settings: Settings) -> None:
    """Serve every app until interrupted; if one stops, the others are stopped too."""
    servers = [
        _server(create_app(settings), settings, settings.api_port),
        _server(create_manila_app(settings), settings, settings.manila_port),
        _server(create_trove_app(settings), settings, settings.trove_port),
    ]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    """Serve the Cinder, Manila and Trove APIs until interrupted."""
    share_verified_contexts()  # a Prefect client made for a request: no 120 ms TLS setup
    asyncio.run(serve(Settings()))


if __name__ == "__main__":
    main()
