"""Cinder snapshots via HTTP: create, update, delete, admin actions, metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.cinder.routes.snapshots import _force
from api.faults import Fault
from api.launcher import RecordingLauncher
from api.microversion import APIVersion
from storage import catalog
from storage.catalog import Snapshot
from storage.settings import Settings

from .helpers import (
    ADMIN,
    MISSING,
    OTHER_PROJECT,
    SNAPSHOTS,
    VOLUMES,
    every_row,
    headers,
    make_snapshot,
    make_volume,
    snapshot_row,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v3" / "snapshots"
BASE_KEYS = {
    "created_at",
    "description",
    "id",
    "metadata",
    "name",
    "size",
    "status",
    "updated_at",
    "volume_id",
}


def _create(
    client: TestClient, volume_id: str, mv: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"snapshot": {"volume_id": volume_id, "name": "s1", **extra}}
    response = client.post(SNAPSHOTS, json=body, headers=headers(mv=mv))
    assert response.status_code == 202, response.text
    return dict(response.json()["snapshot"])


# -- create -----------------------------------------------------------------------------


def test_create_answers_detail_and_starts_create_snapshot(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    volume = make_volume(session, settings.volumes_dir, size=3)
    body = _create(client, volume.id, description="d", metadata={"k": "v"})
    assert set(body) == BASE_KEYS
    assert (body["status"], body["size"], body["metadata"], body["volume_id"]) == (
        "creating",
        3,
        {"k": "v"},
        volume.id,
    )
    (submission,) = launcher.submissions
    assert submission.deployment == "create-snapshot/safehold"
    assert submission.parameters == {"snapshot_id": body["id"]}
    row = snapshot_row(app.state.engine, body["id"])
    assert row.flow_run_id == submission.flow_run_id
    assert row.path == str(settings.snapshots_dir / f"{body['id']}.img")
    session.refresh(volume)
    assert volume.status == "available"


def test_create_accepts_display_names_and_the_sample_request(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    legacy = _create(client, volume.id, name=None, display_name="dn", display_description="dd")
    assert (legacy["name"], legacy["description"]) == ("dn", "dd")
    request = json.loads((SAMPLES / "snapshot-create-request.json").read_text())
    request["snapshot"]["volume_id"] = volume.id
    response = client.post(SNAPSHOTS, json=request, headers=headers())
    assert response.status_code == 202, response.text
    assert response.json()["snapshot"]["metadata"] == {"key": "v3"}


def test_in_use_volume_needs_force(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, status="in-use")
    before = every_row(app.state.engine)
    response = client.post(
        SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=headers()
    )
    assert response.status_code == 400
    assert "status must be available" in response.json()["badRequest"]["message"]
    assert every_row(app.state.engine) == before
    # cinderclient and tempest send booleans; Cinder also takes boolean strings.
    assert _create(client, volume.id, force="true")["status"] == "creating"


def test_force_from_3_66() -> None:
    assert _force(None, APIVersion(3, 0)) is False
    assert _force(True, APIVersion(3, 64)) is True
    assert _force(None, APIVersion(3, 66)) is True  # in-use needs no flag any more
    assert _force(True, APIVersion(3, 66)) is True  # accepted, ignored
    with pytest.raises(Fault) as caught:
        _force(False, APIVersion(3, 66))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("snapshot", "status"),
    [
        ({"volume_id": "not-a-uuid"}, 400),
        ({"volume_id": MISSING}, 404),
        ({"volume_id": "VOL", "size": 1}, 400),
        ({"volume_id": "VOL", "metadata": {"bad key!": "v"}}, 400),
        ({"volume_id": "VOL", "name": "x" * 256}, 400),
        ({"volume_id": "VOL", "force": "maybe"}, 400),
        ({"name": "no volume"}, 400),
    ],
)
def test_bad_create_changes_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    snapshot: dict[str, Any],
    status: int,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    body = {"snapshot": {k: volume.id if v == "VOL" else v for k, v in snapshot.items()}}
    before = every_row(app.state.engine)
    response = client.post(SNAPSHOTS, json=body, headers=headers())
    assert response.status_code == status, response.text
    assert every_row(app.state.engine) == before
    assert launcher.submissions == []


def test_snapshot_of_another_projects_volume_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    response = client.post(
        SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=headers()
    )
    assert response.status_code == 404


def test_orchestrator_down_is_503_and_leaves_the_snapshot_in_error(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    launcher.fail_with = "prefect is down"
    response = client.post(
        SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=headers()
    )
    assert response.status_code == 503
    with Session(app.state.engine) as db:
        (row,) = db.exec(select(Snapshot)).all()
    assert row.status == "error" and "could not start create-snapshot" in (row.fail_reason or "")


# -- update, delete, actions ------------------------------------------------------------


def test_update(client: TestClient, app: FastAPI, session: Session, settings: Settings) -> None:
    snap = make_snapshot(
        session, make_volume(session, settings.volumes_dir), name="a", description="d"
    )
    path = f"{SNAPSHOTS}/{snap.id}"
    body = client.put(path, json={"snapshot": {"name": "b"}}, headers=headers()).json()["snapshot"]
    assert (body["name"], body["description"]) == ("b", "d") and set(body) == BASE_KEYS
    legacy = client.put(
        path, json={"snapshot": {"display_description": None}}, headers=headers()
    ).json()["snapshot"]
    assert (legacy["name"], legacy["description"]) == ("b", None)
    before = every_row(app.state.engine)
    for bad in [{"snapshot": {}}, {"snapshot": {"status": "error"}}, {"name": "x"}]:
        assert client.put(path, json=bad, headers=headers()).status_code == 400, bad
    assert every_row(app.state.engine) == before


def test_delete_starts_delete_snapshot(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    snap = make_snapshot(session, make_volume(session, settings.volumes_dir))
    response = client.delete(f"{SNAPSHOTS}/{snap.id}", headers=headers())
    assert (response.status_code, response.content) == (202, b"")
    (submission,) = launcher.submissions
    assert (submission.deployment, submission.parameters) == (
        "delete-snapshot/safehold",
        {"snapshot_id": snap.id},
    )
    assert snapshot_row(app.state.engine, snap.id).status == "deleting"
    assert client.delete(f"{SNAPSHOTS}/{snap.id}", headers=headers()).status_code == 400


def test_delete_while_creating_is_400_until_its_run_dies(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    snapshot_id = _create(client, volume.id)["id"]
    before = every_row(app.state.engine)
    assert client.delete(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).status_code == 400
    assert every_row(app.state.engine) == before
    launcher.set_state(launcher.submissions[0].flow_run_id, "CRASHED", "worker died")
    shown = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).json()["snapshot"]
    assert shown["status"] == "error"
    assert "crashed: worker died" in (snapshot_row(app.state.engine, snapshot_id).fail_reason or "")
    assert client.delete(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).status_code == 202


def test_volume_with_snapshots_cannot_be_deleted(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    make_snapshot(session, volume)
    before = every_row(app.state.engine)
    response = client.delete(f"{VOLUMES}/{volume.id}", headers=headers())
    assert response.status_code == 400
    assert "has snapshots" in response.json()["badRequest"]["message"]
    assert every_row(app.state.engine) == before


def test_reset_status_is_admin_only(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    snap = make_snapshot(session, make_volume(session, settings.volumes_dir))
    action = f"{SNAPSHOTS}/{snap.id}/action"
    body = {"os-reset_status": {"status": "error"}}
    before = every_row(app.state.engine)
    assert client.post(action, json=body, headers=headers()).status_code == 403
    bad = {"os-reset_status": {"status": "sideways"}}
    assert client.post(action, json=bad, headers=headers(user=ADMIN)).status_code == 400
    assert client.post(action, json={}, headers=headers(user=ADMIN)).status_code == 400
    assert client.post(action, json={"os-extend": {}}, headers=headers(user=ADMIN)).status_code == (
        400
    )
    assert every_row(app.state.engine) == before
    response = client.post(action, json=body, headers=headers(user=ADMIN))
    assert (response.status_code, response.content) == (202, b"")
    assert snapshot_row(app.state.engine, snap.id).status == "error"
    missing = f"{SNAPSHOTS}/{MISSING}/action"
    assert client.post(missing, json=body, headers=headers(user=ADMIN)).status_code == 404


def test_force_delete_is_admin_only(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    snap = make_snapshot(session, make_volume(session, settings.volumes_dir))
    catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status="deleting")
    action = f"{SNAPSHOTS}/{snap.id}/action"
    body = {"os-force_delete": {}}
    assert client.post(action, json=body, headers=headers()).status_code == 403
    assert launcher.submissions == []
    # A plain delete refuses "deleting"; the forced one starts a new run.
    assert client.delete(f"{SNAPSHOTS}/{snap.id}", headers=headers()).status_code == 400
    assert client.post(action, json=body, headers=headers(user=ADMIN)).status_code == 202
    assert [s.deployment for s in launcher.submissions] == ["delete-snapshot/safehold"]


# -- metadata ---------------------------------------------------------------------------


def test_metadata_routes(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    snap = make_snapshot(
        session, make_volume(session, settings.volumes_dir), metadata={"key": "v3"}
    )
    base = f"{SNAPSHOTS}/{snap.id}/metadata"
    h = headers()
    assert client.get(base, headers=h).json() == {"metadata": {"key": "v3"}}
    merged = client.post(base, json={"metadata": {"a": "1"}}, headers=h)
    assert (merged.status_code, merged.json()) == (200, {"metadata": {"key": "v3", "a": "1"}})
    replaced = client.put(base, json={"metadata": {"new_key": "new_value"}}, headers=h)
    assert (replaced.status_code, replaced.json()) == (200, {"metadata": {"new_key": "new_value"}})
    assert client.get(f"{base}/new_key", headers=h).json() == {"meta": {"new_key": "new_value"}}
    assert client.get(f"{base}/absent", headers=h).status_code == 404
    key = client.put(f"{base}/new_key", json={"meta": {"new_key": "v2"}}, headers=h)
    assert (key.status_code, key.json()) == (200, {"meta": {"new_key": "v2"}})
    added = client.put(f"{base}/other", json={"meta": {"other": "o"}}, headers=h)
    assert added.json() == {"meta": {"other": "o"}}

    before = every_row(app.state.engine)
    for method, path, body in [
        ("PUT", f"{base}/new_key", {"meta": {"another": "v"}}),  # body key != URL key
        ("PUT", f"{base}/new_key", {"meta": {"new_key": "v", "x": "y"}}),  # too many
        ("PUT", f"{base}/new_key", {"metadata": {"new_key": "v"}}),
        ("POST", base, {"metadata": {"bad key!": "v"}}),
        ("POST", base, {"metadata": {"k": "v" * 256}}),
        ("PUT", base, {"meta": {}}),
        ("POST", base, {}),
    ]:
        response = client.request(method, path, json=body, headers=h)
        assert response.status_code == 400, (method, path, body)
    assert every_row(app.state.engine) == before

    deleted = client.delete(f"{base}/other", headers=h)
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert client.delete(f"{base}/other", headers=h).status_code == 404
    assert client.get(base, headers=h).json() == {"metadata": {"new_key": "v2"}}
    shown = client.get(f"{SNAPSHOTS}/{snap.id}", headers=h).json()["snapshot"]
    assert shown["metadata"] == {"new_key": "v2"}
    assert client.get(f"{SNAPSHOTS}/{MISSING}/metadata", headers=h).status_code == 404
