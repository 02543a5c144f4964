"""Fixtures for API tests: a SQLite catalog under tmp_path and a RecordingLauncher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.app_fixtures import app, launcher, settings

__all__ = ["app", "client", "launcher", "session", "settings"]


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(client: TestClient, app: FastAPI) -> Iterator[Session]:
    """A catalog session on the app's engine (the app is started by `client`)."""
    with Session(app.state.engine) as db:
        yield db
