"""Fixtures for the Manila API tests: tests/api/conftest.py's client, session, settings and
launcher (a SQLite catalog in tmp_path, a RecordingLauncher, no Prefect), over the
Manila app instead of the Cinder one."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from api.launcher import RecordingLauncher
from api.manila import create_manila_app
from storage.settings import Settings


@pytest.fixture
def app(settings: Settings, launcher: RecordingLauncher) -> FastAPI:
    """The Manila app as create_manila_app builds it (lifespan not started yet)."""
    return create_manila_app(settings, launcher)
