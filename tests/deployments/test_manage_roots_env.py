"""Children (which run from the repository root) get SAFEHOLD_MANAGE_ROOTS as absolute paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployments.environment import service_env
from storage.settings import Settings


def test_children_get_absolute_manage_roots(tmp_path: Path) -> None:
    roots = os.pathsep.join(["images", "/dev/vg0/data"])
    env = service_env(Settings(data_dir=tmp_path, manage_roots=roots))
    expected = os.pathsep.join([str(Path.cwd() / "images"), "/dev/vg0/data"])
    assert env["SAFEHOLD_MANAGE_ROOTS"] == expected


def test_unset_manage_roots_stay_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFEHOLD_MANAGE_ROOTS", raising=False)
    assert "SAFEHOLD_MANAGE_ROOTS" not in service_env(Settings(data_dir=tmp_path))
