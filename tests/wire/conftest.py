"""Fixtures for wire tests: the app (RecordingLauncher) served over HTTP by uvicorn.

No flow runs here: where a test needs a row to move on (creating -> available, ...),
it does what the flow would have done, through the same catalog functions the flows call.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from tests.app_fixtures import app, launcher, settings
from tests.live import serve

__all__ = ["app", "base_url", "launcher", "session", "settings"]


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    """The service's root URL, e.g. http://127.0.0.1:40123."""
    with serve(app) as url:
        yield url


@pytest.fixture
def session(base_url: str, app: FastAPI) -> Iterator[Session]:
    """A catalog session on the served app's engine."""
    with Session(app.state.engine) as db:
        yield db
