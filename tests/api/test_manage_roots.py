"""Manage-existing is confined to SAFEHOLD_MANAGE_ROOTS: refusals are 400 and register nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api import create_app
from api.launcher import RecordingLauncher
from storage import catalog
from storage.settings import Settings

from .helpers import ADMIN, PROJECT, catalog_rows, headers

MANAGE = f"/v3/{PROJECT}/manageable_volumes"
LEGACY = f"/v3/{PROJECT}/os-volume-manage"
SECRET = b"s3cr3t-contents"


def _body(path: str) -> dict[str, Any]:
    return {"volume": {"host": "safehold@file#default", "ref": {"source-name": path}}}


def _manage(client: TestClient, path: str, route: str = MANAGE) -> Any:
    return client.post(route, json=_body(path), headers=headers(user=ADMIN))


@pytest.fixture
def root(settings: Settings) -> Path:
    """The default manage root: the data dir's volumes/."""
    settings.volumes_dir.mkdir(parents=True, exist_ok=True)
    return settings.volumes_dir


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file beside the data dir's volumes/, not under any root."""
    path = tmp_path / "outside.img"
    path.write_bytes(SECRET)
    return path


def _etc_shadow(root: Path, outside: Path) -> str:
    return "/etc/shadow"


def _proc_environ(root: Path, outside: Path) -> str:
    return "/proc/self/environ"


def _outside_file(root: Path, outside: Path) -> str:
    return str(outside)


def _directory(root: Path, outside: Path) -> str:
    (root / "sub").mkdir()
    return str(root / "sub")


def _fifo(root: Path, outside: Path) -> str:
    os.mkfifo(root / "pipe")
    return str(root / "pipe")


def _escaping_symlink(root: Path, outside: Path) -> str:
    (root / "escape.img").symlink_to(outside)
    return str(root / "escape.img")


def _missing(root: Path, outside: Path) -> str:
    return str(root / "missing.img")


def _dotdot(root: Path, outside: Path) -> str:
    return f"{root}/../{outside.name}"


Case = Callable[[Path, Path], str]
REFUSED: list[tuple[Case, str]] = [
    (_etc_shadow, "is not under a managed root (SAFEHOLD_MANAGE_ROOTS)"),
    (_proc_environ, "is not under a managed root (SAFEHOLD_MANAGE_ROOTS)"),
    (_outside_file, "is not under a managed root (SAFEHOLD_MANAGE_ROOTS)"),
    (_dotdot, "is not under a managed root (SAFEHOLD_MANAGE_ROOTS)"),
    (_directory, "is a directory, not a regular file or block device"),
    (_fifo, "is a fifo, not a regular file or block device"),
    (_escaping_symlink, "leads outside the managed roots (SAFEHOLD_MANAGE_ROOTS)"),
    (_missing, "does not exist"),
]


@pytest.mark.parametrize(("case", "reason"), REFUSED, ids=[c.__name__[1:] for c, _ in REFUSED])
@pytest.mark.parametrize("route", [MANAGE, LEGACY])
def test_a_source_outside_the_rules_is_a_400_and_registers_nothing(
    client: TestClient,
    app: FastAPI,
    launcher: RecordingLauncher,
    root: Path,
    outside: Path,
    case: Case,
    reason: str,
    route: str,
) -> None:
    path = case(root, outside)
    before = catalog_rows(app.state.engine)
    response = _manage(client, path, route)
    assert response.status_code == 400
    message = f"Invalid input: manage-existing source-name {path} {reason}"
    assert response.json() == {"badRequest": {"code": 400, "message": message}}
    assert SECRET.decode() not in response.text
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []


def test_an_escaping_symlink_does_not_reveal_its_target(
    client: TestClient, root: Path, outside: Path
) -> None:
    (root / "escape.img").symlink_to(outside)
    response = _manage(client, str(root / "escape.img"))
    assert response.status_code == 400
    assert str(outside) not in response.text


def test_a_relative_path_is_a_400_and_registers_nothing(
    client: TestClient, app: FastAPI, launcher: RecordingLauncher, root: Path
) -> None:
    (root / "disk.img").write_bytes(b"x")
    before = catalog_rows(app.state.engine)
    response = _manage(client, "volumes/disk.img")
    assert response.status_code == 400
    assert "absolute file or device path" in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []


def test_a_regular_file_under_the_root_is_registered(
    client: TestClient, session: Session, launcher: RecordingLauncher, root: Path
) -> None:
    (root / "disk.img").write_bytes(b"\0" * 4096)
    response = _manage(client, str(root / "disk.img"))
    assert response.status_code == 202
    row = catalog.get_volume(session=session, volume_id=response.json()["volume"]["id"])
    assert (row.status, row.managed, row.path) == ("managing", True, str(root / "disk.img"))
    assert [s.deployment for s in launcher.submissions] == ["manage-volume/safehold"]


def test_a_symlink_inside_the_root_is_stored_resolved(
    client: TestClient, session: Session, root: Path
) -> None:
    (root / "images").mkdir()
    target = root / "images" / "disk.img"
    target.write_bytes(b"\0" * 4096)
    (root / "alias.img").symlink_to(target)
    response = _manage(client, str(root / "alias.img"))
    assert response.status_code == 202
    volume = response.json()["volume"]
    assert volume["metadata"] == {"safehold:path": str(target)}
    row = catalog.get_volume(session=session, volume_id=volume["id"])
    assert row.path == str(target)


def _client(settings: Settings, launcher: RecordingLauncher, roots: str) -> TestClient:
    """A client of the app with SAFEHOLD_MANAGE_ROOTS set to `roots` (use as a context)."""
    configured = settings.model_copy(update={"manage_roots": roots})
    return TestClient(create_app(configured, launcher))


def test_configured_roots_replace_the_default(
    settings: Settings, launcher: RecordingLauncher, tmp_path: Path
) -> None:
    for name in ("images", "more", "volumes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "disk.img").write_bytes(b"x")
    roots = os.pathsep.join([str(tmp_path / "images"), str(tmp_path / "more")])
    with _client(settings, launcher, roots) as client:
        assert _manage(client, str(tmp_path / "images" / "disk.img")).status_code == 202
        assert _manage(client, str(tmp_path / "more" / "disk.img")).status_code == 202
        refused = _manage(client, str(tmp_path / "volumes" / "disk.img"))
    assert refused.status_code == 400
    assert "is not under a managed root" in refused.json()["badRequest"]["message"]


def test_empty_roots_refuse_every_source(settings: Settings, launcher: RecordingLauncher) -> None:
    settings.volumes_dir.mkdir(parents=True)
    (settings.volumes_dir / "disk.img").write_bytes(b"x")
    with _client(settings, launcher, "") as client:
        response = _manage(client, str(settings.volumes_dir / "disk.img"))
    assert response.status_code == 400
    assert launcher.submissions == []
