"""Fixtures for the Trove API tests: tests/api/conftest.py's client, session, settings and
launcher (SQLite catalog in tmp_path, a RecordingLauncher, no Prefect), over the Trove app."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from api.launcher import RecordingLauncher
from api.trove.app import create_trove_app
from storage.settings import Settings


@pytest.fixture(autouse=True)
def _sqlite_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the built-in SQLite datastore: no server of this machine is configured."""
    for name in ("SAFEHOLD_POSTGRESQL_URL", "SAFEHOLD_MARIADB_URL", "SAFEHOLD_DATASTORES_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def app(settings: Settings, launcher: RecordingLauncher) -> FastAPI:
    """The Trove app as create_trove_app builds it (lifespan not started yet)."""
    return create_trove_app(settings, launcher)
