"""What every API app is made of, whatever its dialect: the catalog lifespan, settings and
tokens in `app.state`, the fault table, and the dialect's microversion middleware."""

from __future__ import annotations

from typing import TypeVar

from fastapi import FastAPI

from api.faults import install_faults
from api.launcher import Launcher
from api.lifespan import catalog_lifespan
from api.microversion import Dialect, VersionMiddleware
from api.tokens import configured_tokens
from storage.settings import Settings

N = TypeVar("N")


def service_app(
    settings: Settings,
    launcher: Launcher | None,
    dialect: Dialect[N],
    *,
    title: str,
    summary: str,
) -> FastAPI:
    """An app without routes: its lifespan opens the catalog and the launcher (Prefect
    when None); TokenFileError when auth_mode=tokens and the tokens file is unusable."""
    app = FastAPI(
        title=title,
        summary=summary,
        lifespan=catalog_lifespan(settings, launcher),
        redirect_slashes=False,
    )
    app.state.settings = settings
    # Read now, so a bad tokens file stops the service before it serves (TokenFileError).
    app.state.tokens = configured_tokens(settings)
    install_faults(app)
    # Added last, so outermost: errors rendered by the fault layer carry the echo too.
    app.add_middleware(VersionMiddleware[N], dialect=dialect)
    return app
