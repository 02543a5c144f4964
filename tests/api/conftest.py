"""Fixtures for API tests: a SQLite catalog under tmp_path and a RecordingLauncher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api import create_app
from api.launcher import RecordingLauncher
from storage.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a throw-away service rooted in tmp_path (env vars cannot leak in)."""
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
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(client: TestClient, app: FastAPI) -> Iterator[Session]:
    """A catalog session on the app's engine (the app is started by `client`)."""
    with Session(app.state.engine) as db:
        yield db
