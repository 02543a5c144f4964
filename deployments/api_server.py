"""Run the API façade under uvicorn with the process's SAFEHOLD_* settings."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from storage.settings import Settings


def main() -> None:
    """Serve the API on settings.host:settings.api_port until interrupted."""
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.api_port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
