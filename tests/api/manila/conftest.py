"""Fixtures for the Manila API tests: the Manila app over a SQLite catalog in tmp_path
and a RecordingLauncher (no Prefect)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from api.manila import create_manila_app
from storage.settings import Settings
from tests.app_fixtures import launcher, settings

__all__ = ["app", "client", "launcher", "session", "settings"]


@pytest.fixture
def app(settings: Settings, launcher: RecordingLauncher) -> FastAPI:
    """The Manila app as create_manila_app builds it (lifespan not started yet)."""
    return create_manila_app(settings, launcher)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(client: TestClient, app: FastAPI) -> Iterator[Session]:
    """A catalog session on the app's engine (the app is started by `client`)."""
    with Session(app.state.engine) as db:
        yield db
