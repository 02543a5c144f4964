"""The app under test, for tests/api and tests/wire (their conftests import these
fixtures): a throw-away service rooted in tmp_path and a RecordingLauncher, no Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from api import create_app
from api.launcher import RecordingLauncher
from storage.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in tmp_path (env vars cannot leak in); the user "admin" is the admin."""
    return Settings(
        data_dir=tmp_path,
        catalog_url=f"sqlite:///{tmp_path / 'catalog.db'}",
        admin_users="admin",
        auth_mode="noauth",
    )


@pytest.fixture
def launcher() -> RecordingLauncher:
    """Records every submitted run instead of starting it."""
    return RecordingLauncher()


@pytest.fixture
def app(settings: Settings, launcher: RecordingLauncher) -> FastAPI:
    """The app as create_app builds it (lifespan not started yet)."""
    return create_app(settings, launcher)
