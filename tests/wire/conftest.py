"""Fixtures for wire tests: the app (RecordingLauncher) served over HTTP by uvicorn.

No flow runs here: where a test needs a row to move on (creating -> available, ...),
it does what the flow would have done, through the same catalog functions the flows call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from api import create_app
from api.launcher import RecordingLauncher
from storage.settings import Settings
from tests.live import serve


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A throw-away service rooted in tmp_path; the user "admin" is the admin."""
    return Settings(
        data_dir=tmp_path,
        catalog_url=f"sqlite:///{tmp_path / 'catalog.db'}",
        admin_users="admin",
    )


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def app(settings: Settings, launcher: RecordingLauncher) -> FastAPI:
    return create_app(settings, launcher)


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
