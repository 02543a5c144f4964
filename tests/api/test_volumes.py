"""Cinder v3 volumes: create, show, list, delete, manage-existing, os-reset_status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.catalog import VolumeStatus
from storage.settings import Settings

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, catalog_rows, headers, make_volume

VOLUMES = f"/v3/{PROJECT}/volumes"
MANAGE = f"/v3/{PROJECT}/manageable_volumes"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v3"


def _cinderclient_body(**overrides: Any) -> dict[str, Any]:
    """What cinderclient's volumes.create(size=1) sends: most keys null."""
    volume: dict[str, Any] = {
        "size": 1,
        "consistencygroup_id": None,
        "snapshot_id": None,
        "name": None,
        "description": None,
        "volume_type": None,
        "availability_zone": None,
        "metadata": {},
        "imageRef": None,
        "source_volid": None,
        "backup_id": None,
    }
    volume.update(overrides)
    return {"volume": volume}


def test_create_accepts_cinderclient_nulls_and_starts_create_volume(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    response = client.post(VOLUMES, json=_cinderclient_body(name="data"), headers=headers())
    assert response.status_code == 202
    volume = response.json()["volume"]
    assert (volume["status"], volume["size"], volume["name"]) == ("creating", 1, "data")
    row = catalog.get_volume(session=session, volume_id=volume["id"])
    assert row.path == str(settings.volumes_dir / f"{row.id}.img")
    [sub] = launcher.submissions
    assert (sub.deployment, sub.parameters) == ("create-volume/safehold", {"volume_id": row.id})
    assert sub.run_name == "create-volume data"  # named for the volume it creates


def test_create_accepts_the_upstream_sample_request(client: TestClient) -> None:
    sample = SAMPLES / "volumes" / "volume-create-request.json"
    response = client.post(VOLUMES, json=json.loads(sample.read_text()), headers=headers())
    assert response.status_code == 202


def test_display_names_and_string_size_are_accepted(client: TestClient) -> None:
    body = {"volume": {"size": "2", "display_name": "old", "display_description": "style"}}
    volume = client.post(VOLUMES, json=body, headers=headers()).json()["volume"]
    assert (volume["size"], volume["name"], volume["description"]) == (2, "old", "style")


@pytest.mark.parametrize(
    ("volume", "mv", "status", "fragment"),
    [
        ({"size": 0}, None, 400, "volume.size"),
        ({"size": -3}, None, 400, "volume.size"),
        ({"name": "x"}, None, 400, "volume.size"),
        (
            {"size": 1, "snapshot_id": "0d6e4b5c-2d8a-4f0e-9a3b-1c2d3e4f5a6b"},
            None,
            400,
            "snapshot_id is not supported",
        ),
        ({"size": 1, "imageRef": "img"}, None, 400, "imageRef is not supported"),
        ({"size": 1, "multiattach": True}, None, 400, "multiattach"),
        ({"size": 1, "volume_type": "ssd"}, None, 404, "Volume type with name ssd"),
        ({"size": 1, "metadata": {"safehold:path": "/etc"}}, None, 400, "reserved"),
        ({"size": 1, "colour": "red"}, "3.53", 400, "('colour' was unexpected)"),
    ],
)
def test_bad_create_changes_nothing(
    client: TestClient,
    app: FastAPI,
    launcher: RecordingLauncher,
    volume: dict[str, Any],
    mv: str | None,
    status: int,
    fragment: str,
) -> None:
    before = catalog_rows(app.state.engine)
    response = client.post(VOLUMES, json={"volume": volume}, headers=headers(mv=mv))
    assert response.status_code == status
    assert fragment in json.dumps(response.json())
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []


def test_unknown_keys_are_tolerated_before_3_53(client: TestClient) -> None:
    body = {"volume": {"size": 1, "colour": "red"}}
    assert client.post(VOLUMES, json=body, headers=headers(mv="3.52")).status_code == 202


def test_unknown_top_level_key_is_400(client: TestClient) -> None:
    body = {"volume": {"size": 1}, "server": {}}
    assert client.post(VOLUMES, json=body, headers=headers()).status_code == 400


def test_path_is_shown_to_admins_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    as_user = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert as_user["metadata"] == {}
    assert not any(key.startswith("os-vol-") for key in as_user)
    admin = headers(user=ADMIN)
    as_admin = client.get(f"{VOLUMES}/{volume.id}", headers=admin).json()["volume"]
    assert as_admin["metadata"] == {"safehold:path": volume.path}
    assert as_admin["os-vol-tenant-attr:tenant_id"] == PROJECT
    assert catalog.get_volume(session=session, volume_id=volume.id).meta == {}


def test_manage_status_is_shown_as_creating(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, status=VolumeStatus.ERROR_MANAGING)
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert shown["status"] == "error"


def test_lists(client: TestClient, session: Session, settings: Settings) -> None:
    mine = make_volume(session, settings.volumes_dir, name="mine")
    theirs = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT, name="theirs")
    summary = client.get(VOLUMES, headers=headers()).json()
    assert [(v["id"], set(v)) for v in summary["volumes"]] == [(mine.id, {"id", "links", "name"})]
    detail = client.get(f"{VOLUMES}/detail", headers=headers()).json()["volumes"]
    assert [v["name"] for v in detail] == ["mine"]
    admin = client.get(f"{VOLUMES}/detail?all_tenants=1", headers=headers(user=ADMIN)).json()
    assert {v["id"] for v in admin["volumes"]} == {mine.id, theirs.id}


def test_delete_starts_delete_volume(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    response = client.delete(f"{VOLUMES}/{volume.id}", headers=headers())
    assert (response.status_code, response.content) == (202, b"")
    session.refresh(volume)
    assert volume.status == "deleting"
    sub = launcher.submissions[-1]
    assert (sub.deployment, sub.parameters) == ("delete-volume/safehold", {"volume_id": volume.id})


def test_delete_of_a_busy_volume_is_400(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir, status=VolumeStatus.BACKING_UP)
    response = client.delete(f"{VOLUMES}/{volume.id}", headers=headers())
    assert response.status_code == 400
    assert launcher.submissions == []


def test_another_projects_volume_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    assert client.get(f"{VOLUMES}/{volume.id}", headers=headers()).status_code == 404
    assert client.delete(f"{VOLUMES}/{volume.id}", headers=headers()).status_code == 404


def _manage_body(path: str = "/dev/vg0/data") -> dict[str, Any]:
    # The shape cinderclient's volumes.manage() sends.
    return {
        "volume": {
            "host": "safehold@file#default",
            "ref": {"source-name": path},
            "name": "legacy",
            "description": None,
            "volume_type": None,
            "availability_zone": None,
            "metadata": None,
            "bootable": False,
        }
    }


def test_manage_is_admin_only(
    client: TestClient, app: FastAPI, launcher: RecordingLauncher
) -> None:
    before = catalog_rows(app.state.engine)
    response = client.post(MANAGE, json=_manage_body(), headers=headers())
    assert response.status_code == 403
    assert response.json()["forbidden"]["code"] == 403
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []


@pytest.mark.parametrize("path", [MANAGE, f"/v3/{PROJECT}/os-volume-manage"])
def test_manage_registers_the_file_and_starts_manage_volume(
    client: TestClient,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    path: str,
) -> None:
    # The default manage root is the data dir's volumes/ (tests/api/test_manage_roots.py).
    source = settings.volumes_dir / "legacy.img"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"\0" * 4096)
    response = client.post(path, json=_manage_body(str(source)), headers=headers(user=ADMIN))
    assert response.status_code == 202
    volume = response.json()["volume"]
    assert (volume["status"], volume["size"], volume["name"]) == ("creating", 0, "legacy")
    assert volume["metadata"] == {"safehold:path": str(source)}
    row = catalog.get_volume(session=session, volume_id=volume["id"])
    assert (row.status, row.managed, row.path) == ("managing", True, str(source))
    sub = launcher.submissions[-1]
    assert (sub.deployment, sub.parameters) == ("manage-volume/safehold", {"volume_id": row.id})


@pytest.mark.parametrize(
    "volume",
    [
        {"host": "h", "ref": {"source-name": "relative/path"}},
        {"host": "h", "ref": {"source-id": "42"}},
        {"ref": {"source-name": "/srv/v.img"}},
        {"host": "h", "ref": {"source-name": "/srv/v.img"}, "bootable": True},
        {"host": "h", "ref": {"source-name": "/srv/v.img"}, "colour": "red"},
    ],
)
def test_bad_manage_changes_nothing(
    client: TestClient, app: FastAPI, launcher: RecordingLauncher, volume: dict[str, Any]
) -> None:
    before = catalog_rows(app.state.engine)
    response = client.post(MANAGE, json={"volume": volume}, headers=headers(user=ADMIN))
    assert response.status_code == 400
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []


def test_reset_status_is_admin_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, status=VolumeStatus.ERROR)
    action = f"{VOLUMES}/{volume.id}/action"
    body = {
        "os-reset_status": {
            "status": "available",
            "attach_status": "detached",
            "migration_status": "migrating",
        }
    }
    assert client.post(action, json=body, headers=headers()).status_code == 403
    response = client.post(action, json=body, headers=headers(user=ADMIN))
    assert (response.status_code, response.content) == (202, b"")
    session.refresh(volume)
    assert volume.status == "available"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"os-extend": {"new_size": 2}}, "There is no such action: os-extend"),
        ({"os-reset_status": {"status": "sleeping"}}, "Invalid volume status"),
        ({"os-reset_status": {"colour": "red"}}, "('colour' was unexpected)"),
        ({"os-reset_status": {}}, "Must specify"),
        ({}, "exactly one action"),
    ],
)
def test_bad_actions_are_400(
    client: TestClient,
    session: Session,
    settings: Settings,
    body: dict[str, Any],
    fragment: str,
) -> None:
    volume = make_volume(session, settings.volumes_dir, status=VolumeStatus.ERROR)
    response = client.post(f"{VOLUMES}/{volume.id}/action", json=body, headers=headers(user=ADMIN))
    assert response.status_code == 400
    assert fragment in response.json()["badRequest"]["message"]
    session.refresh(volume)
    assert volume.status == "error"
