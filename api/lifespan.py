"""The lifespan every API app shares: the catalog engine and the launcher (Prefect by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import anyio
from fastapi import FastAPI

from api.launcher import Launcher, open_prefect_launcher
from api.runs import Runs
from storage import catalog
from storage.settings import Settings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def catalog_lifespan(settings: Settings, launcher: Launcher | None = None) -> Lifespan:
    """A lifespan that migrates and opens the catalog, then sets `app.state.engine` and
    `app.state.runs` (over `launcher`, or a Prefect launcher opened for the app's life)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = catalog.make_engine(settings.resolved_catalog_url())
        try:
            # Migrations block (SQL + files): keep them off the event loop.
            await anyio.to_thread.run_sync(catalog.migrate, engine)
            async with AsyncExitStack() as stack:
                active: Launcher = (
                    launcher
                    if launcher is not None
                    else await stack.enter_async_context(open_prefect_launcher())
                )
                # One Runs for the app's life: it only wraps the launcher.
                app.state.runs = Runs(active)
                app.state.engine = engine
                yield
        finally:
            engine.dispose()

    return lifespan
