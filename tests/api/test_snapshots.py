"""Cinder snapshots (v3 and v2), volume attach/detach, and backups of snapshots, via HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.faults import Fault
from api.launcher import RecordingLauncher
from api.microversion import APIVersion
from api.routes.snapshots import _force
from api.views.common import ViewContext
from api.views.snapshots import snapshot_detail
from storage import catalog
from storage.catalog import Backup, Snapshot, Volume, VolumeAttachment
from storage.settings import Settings

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, USER, headers, make_volume
from .test_golden import assert_same_shape

SNAPSHOTS = f"/v3/{PROJECT}/snapshots"
VOLUMES = f"/v3/{PROJECT}/volumes"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v3" / "snapshots"
V2_SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v2"
SERVER = "5f0f5b1c-1b2f-4bd5-9f4b-0e6d2a7c9d11"
MISSING = "0d6e4b5c-2d8a-4f0e-9a3b-1c2d3e4f5a6b"
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
EXTENDED = {
    "os-extended-snapshot-attributes:progress",
    "os-extended-snapshot-attributes:project_id",
}


def _sample(folder: str, name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / folder / name).read_text()))


def _rows(engine: Engine) -> list[dict[str, Any]]:
    """Every row the snapshot calls may touch, read fresh."""
    found: list[dict[str, Any]] = []
    with Session(engine) as db:
        for model in (Volume, Snapshot, Backup, VolumeAttachment):
            found.extend(sorted((r.model_dump() for r in db.exec(select(model))), key=str))
    return found


def _create(
    client: TestClient, volume_id: str, mv: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"snapshot": {"volume_id": volume_id, "name": "s1", **extra}}
    response = client.post(SNAPSHOTS, json=body, headers=headers(mv=mv))
    assert response.status_code == 202, response.text
    return dict(response.json()["snapshot"])


def _snapshot(session: Session, volume: Volume, *, project: str = PROJECT, **kw: Any) -> Snapshot:
    """An available snapshot row, as a finished create-snapshot flow leaves it."""
    snap = catalog.begin_snapshot(
        session=session,
        project_id=project,
        user_id=USER,
        volume_id=volume.id,
        snapshots_dir=Path("/nonexistent"),
        **kw,
    )
    catalog.finish_snapshot(session=session, snapshot_id=snap.id)
    session.refresh(snap)
    return snap


def _get(app: FastAPI, snapshot_id: str) -> Snapshot:
    with Session(app.state.engine) as db:
        return catalog.get_snapshot(session=db, snapshot_id=snapshot_id)


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
    row = _get(app, body["id"])
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
    before = _rows(app.state.engine)
    response = client.post(
        SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=headers()
    )
    assert response.status_code == 400
    assert "status must be available" in response.json()["badRequest"]["message"]
    assert _rows(app.state.engine) == before
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
    before = _rows(app.state.engine)
    response = client.post(SNAPSHOTS, json=body, headers=headers())
    assert response.status_code == status, response.text
    assert _rows(app.state.engine) == before
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


# -- views ------------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "mv"), [(".", "3.0"), ("v3.14", "3.14"), ("v3.41", "3.41")])
def test_bodies_match_the_samples(
    client: TestClient, session: Session, settings: Settings, folder: str, mv: str
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    admin = headers(user=ADMIN, mv=mv)
    created = client.post(SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=admin)
    assert_same_shape(created.json(), _sample(folder, "snapshot-create-response.json"))
    snapshot_id = created.json()["snapshot"]["id"]
    shown = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=admin).json()
    assert_same_shape(shown, _sample(folder, "snapshot-show-response.json"))
    updated = client.put(
        f"{SNAPSHOTS}/{snapshot_id}", json={"snapshot": {"name": "n2"}}, headers=admin
    ).json()
    assert_same_shape(updated, _sample(folder, "snapshot-update-response.json"))
    detailed = client.get(f"{SNAPSHOTS}/detail", headers=admin).json()
    assert_same_shape(detailed, _sample(folder, "snapshots-list-detailed-response.json"))
    # The plain list is the nine base fields at every microversion (Cinder's summary).
    listed = client.get(SNAPSHOTS, headers=admin).json()
    assert_same_shape(listed, _sample(".", "snapshots-list-response.json"))
    # A user sees the same keys: nothing here is admin-only.
    as_user = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=headers(mv=mv)).json()
    assert sorted(as_user["snapshot"]) == sorted(shown["snapshot"])


def test_consumes_quota_at_3_65(session: Session, settings: Settings) -> None:
    # Above the served maximum today (3.64); the view is ready for when it is raised.
    snap = _snapshot(session, make_volume(session, settings.volumes_dir))
    for mv, extended, sample in [
        (APIVersion(3, 65), False, "snapshot-create-response.json"),
        (APIVersion(3, 65), True, "snapshot-show-response.json"),
    ]:
        view = ViewContext("http://x", PROJECT, mv, False)
        body = {"snapshot": snapshot_detail(snap, view, extended=extended)}
        assert_same_shape(body, _sample("v3.65", sample))
        assert body["snapshot"]["consumes_quota"] is True


def test_show_values(client: TestClient, session: Session, settings: Settings) -> None:
    snap = _snapshot(session, make_volume(session, settings.volumes_dir), name="s")
    shown = client.get(f"{SNAPSHOTS}/{snap.id}", headers=headers(mv="3.41")).json()["snapshot"]
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    assert shown["os-extended-snapshot-attributes:project_id"] == PROJECT
    assert (shown["user_id"], shown["group_snapshot_id"], shown["status"]) == (
        USER,
        None,
        "available",
    )
    assert "links" not in shown


def test_v2_tree_serves_the_same_handlers_at_3_0(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    v2 = f"/v2/{PROJECT}/snapshots"
    created = client.post(
        v2, json={"snapshot": {"volume_id": volume.id}}, headers=headers(user=ADMIN, mv="3.41")
    )
    assert created.status_code == 202
    assert "OpenStack-API-Version" not in created.headers
    sample = json.loads((V2_SAMPLES / "snapshot-create-response.json").read_text())
    sample["snapshot"]["updated_at"] = None  # the v2-era sample predates the field
    assert_same_shape(created.json(), sample)
    snapshot_id = created.json()["snapshot"]["id"]
    shown = client.get(f"{v2}/{snapshot_id}", headers=headers(user=ADMIN)).json()
    assert_same_shape(shown, json.loads((V2_SAMPLES / "snapshot-show-response.json").read_text()))
    detailed = client.get(f"{v2}/detail", headers=headers(user=ADMIN)).json()
    sample = json.loads((V2_SAMPLES / "snapshots-list-detailed-response.json").read_text())
    del sample["snapshots_links"]  # only when a page is full
    assert_same_shape(detailed, sample)
    meta = client.post(
        f"{v2}/{snapshot_id}/metadata", json={"metadata": {"a": "b"}}, headers=headers()
    )
    assert meta.json() == {"metadata": {"a": "b"}}


# -- list -------------------------------------------------------------------------------


def test_list_filters_sorts_pages_and_counts(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume, other = (make_volume(session, settings.volumes_dir) for _ in range(2))
    for name in ("c", "a", "b"):
        _snapshot(session, volume, name=name)
    _snapshot(session, other, name="a")
    h = headers(mv="3.45")
    names = [
        s["name"] for s in client.get(f"{SNAPSHOTS}?sort=name:asc", headers=h).json()["snapshots"]
    ]
    assert names == ["a", "a", "b", "c"]
    # cinderclient sends sort_key=display_name.
    listed = client.get(
        f"{SNAPSHOTS}/detail?volume_id={volume.id}&sort_key=display_name&sort_dir=desc", headers=h
    ).json()["snapshots"]
    assert [s["name"] for s in listed] == ["c", "b", "a"]
    body = client.get(f"{SNAPSHOTS}?name=a&with_count=True", headers=h).json()
    assert body["count"] == 2 and {s["volume_id"] for s in body["snapshots"]} == {
        volume.id,
        other.id,
    }
    page = client.get(f"{SNAPSHOTS}?sort=name:asc&limit=2", headers=h).json()
    assert [s["name"] for s in page["snapshots"]] == ["a", "a"]
    (link,) = page["snapshots_links"]
    query = parse_qs(urlsplit(link["href"]).query)
    assert query["marker"] == [page["snapshots"][-1]["id"]]
    rest = client.get(link["href"], headers=h).json()
    assert [s["name"] for s in rest["snapshots"]] == ["b", "c"]
    # A full page always links on (Cinder): the page after it is empty and unlinked.
    last = client.get(rest["snapshots_links"][0]["href"], headers=h).json()
    assert last == {"snapshots": []}
    assert "count" not in client.get(f"{SNAPSHOTS}?with_count=true", headers=headers()).json()


@pytest.mark.parametrize(
    ("query", "mv", "status"),
    [
        ("limit=-1", None, 400),
        ("offset=x", None, 400),
        ("sort=name:sideways", None, 400),
        ("sort=path", None, 400),
        ("sort=name&sort_key=name", None, 400),
        ("all_tenants=perhaps", None, 400),
        ("marker=" + MISSING, None, 404),
        ("bogus=1", "3.31", 400),
        ("bogus=1", "3.30", 200),
    ],
)
def test_bad_list_queries(client: TestClient, query: str, mv: str | None, status: int) -> None:
    assert client.get(f"{SNAPSHOTS}?{query}", headers=headers(mv=mv)).status_code == status


def test_isolation_and_all_tenants(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine = _snapshot(session, make_volume(session, settings.volumes_dir))
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    theirs = _snapshot(session, volume, project=OTHER_PROJECT)
    ids = [
        s["id"]
        for s in client.get(f"{SNAPSHOTS}?all_tenants=1", headers=headers()).json()["snapshots"]
    ]
    assert ids == [mine.id]  # ignored for users
    admin_ids = {
        s["id"]
        for s in client.get(
            f"{SNAPSHOTS}/detail?all_tenants=1", headers=headers(user=ADMIN)
        ).json()["snapshots"]
    }
    assert admin_ids == {mine.id, theirs.id}
    for method, path, body in [
        ("GET", f"{SNAPSHOTS}/{theirs.id}", None),
        ("PUT", f"{SNAPSHOTS}/{theirs.id}", {"snapshot": {"name": "x"}}),
        ("DELETE", f"{SNAPSHOTS}/{theirs.id}", None),
        ("GET", f"{SNAPSHOTS}/{theirs.id}/metadata", None),
        ("POST", f"{SNAPSHOTS}/{theirs.id}/metadata", {"metadata": {"a": "b"}}),
        ("DELETE", f"{SNAPSHOTS}/{theirs.id}/metadata/a", None),
    ]:
        response = client.request(method, path, json=body, headers=headers())
        assert response.status_code == 404, (method, path)
    shown = client.get(f"{SNAPSHOTS}/{theirs.id}", headers=headers(user=ADMIN)).json()
    assert shown["snapshot"]["os-extended-snapshot-attributes:project_id"] == OTHER_PROJECT


# -- update, delete, actions ------------------------------------------------------------


def test_update(client: TestClient, app: FastAPI, session: Session, settings: Settings) -> None:
    snap = _snapshot(session, make_volume(session, settings.volumes_dir), name="a", description="d")
    path = f"{SNAPSHOTS}/{snap.id}"
    body = client.put(path, json={"snapshot": {"name": "b"}}, headers=headers()).json()["snapshot"]
    assert (body["name"], body["description"]) == ("b", "d") and set(body) == BASE_KEYS
    legacy = client.put(
        path, json={"snapshot": {"display_description": None}}, headers=headers()
    ).json()["snapshot"]
    assert (legacy["name"], legacy["description"]) == ("b", None)
    before = _rows(app.state.engine)
    for bad in [{"snapshot": {}}, {"snapshot": {"status": "error"}}, {"name": "x"}]:
        assert client.put(path, json=bad, headers=headers()).status_code == 400, bad
    assert _rows(app.state.engine) == before


def test_delete_starts_delete_snapshot(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    snap = _snapshot(session, make_volume(session, settings.volumes_dir))
    response = client.delete(f"{SNAPSHOTS}/{snap.id}", headers=headers())
    assert (response.status_code, response.content) == (202, b"")
    (submission,) = launcher.submissions
    assert (submission.deployment, submission.parameters) == (
        "delete-snapshot/safehold",
        {"snapshot_id": snap.id},
    )
    assert _get(app, snap.id).status == "deleting"
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
    before = _rows(app.state.engine)
    assert client.delete(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).status_code == 400
    assert _rows(app.state.engine) == before
    launcher.set_state(launcher.submissions[0].flow_run_id, "CRASHED", "worker died")
    shown = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).json()["snapshot"]
    assert shown["status"] == "error"
    assert "crashed: worker died" in (_get(app, snapshot_id).fail_reason or "")
    assert client.delete(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).status_code == 202


def test_volume_with_snapshots_cannot_be_deleted(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    _snapshot(session, volume)
    before = _rows(app.state.engine)
    response = client.delete(f"{VOLUMES}/{volume.id}", headers=headers())
    assert response.status_code == 400
    assert "has snapshots" in response.json()["badRequest"]["message"]
    assert _rows(app.state.engine) == before


def test_reset_status_is_admin_only(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    snap = _snapshot(session, make_volume(session, settings.volumes_dir))
    action = f"{SNAPSHOTS}/{snap.id}/action"
    body = {"os-reset_status": {"status": "error"}}
    before = _rows(app.state.engine)
    assert client.post(action, json=body, headers=headers()).status_code == 403
    bad = {"os-reset_status": {"status": "sideways"}}
    assert client.post(action, json=bad, headers=headers(user=ADMIN)).status_code == 400
    assert client.post(action, json={}, headers=headers(user=ADMIN)).status_code == 400
    assert client.post(action, json={"os-extend": {}}, headers=headers(user=ADMIN)).status_code == (
        400
    )
    assert _rows(app.state.engine) == before
    response = client.post(action, json=body, headers=headers(user=ADMIN))
    assert (response.status_code, response.content) == (202, b"")
    assert _get(app, snap.id).status == "error"
    missing = f"{SNAPSHOTS}/{MISSING}/action"
    assert client.post(missing, json=body, headers=headers(user=ADMIN)).status_code == 404


def test_force_delete_is_admin_only(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    snap = _snapshot(session, make_volume(session, settings.volumes_dir))
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
    snap = _snapshot(session, make_volume(session, settings.volumes_dir), metadata={"key": "v3"})
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

    before = _rows(app.state.engine)
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
    assert _rows(app.state.engine) == before

    deleted = client.delete(f"{base}/other", headers=h)
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert client.delete(f"{base}/other", headers=h).status_code == 404
    assert client.get(base, headers=h).json() == {"metadata": {"new_key": "v2"}}
    shown = client.get(f"{SNAPSHOTS}/{snap.id}", headers=h).json()["snapshot"]
    assert shown["metadata"] == {"new_key": "v2"}
    assert client.get(f"{SNAPSHOTS}/{MISSING}/metadata", headers=h).status_code == 404


# -- attach / detach --------------------------------------------------------------------


def _action(client: TestClient, volume_id: str, body: dict[str, Any], user: str = USER) -> Any:
    return client.post(f"{VOLUMES}/{volume_id}/action", json=body, headers=headers(user=user))


def test_attach_makes_a_volume_in_use_and_shows_the_attachment(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    # What cinderclient's volumes.attach(volume, instance_uuid, mountpoint) sends.
    body = {"os-attach": {"mountpoint": "/dev/vdb", "mode": "rw", "instance_uuid": SERVER}}
    response = _action(client, volume.id, body)
    assert (response.status_code, response.content) == (202, b"")
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert shown["status"] == "in-use"
    (attachment,) = shown["attachments"]
    assert set(attachment) == {
        "attached_at",
        "attachment_id",
        "device",
        "host_name",
        "id",
        "server_id",
        "volume_id",
    }
    assert (attachment["server_id"], attachment["device"], attachment["volume_id"]) == (
        SERVER,
        "/dev/vdb",
        volume.id,
    )
    assert attachment["id"] == volume.id and attachment["host_name"] is None
    detailed = client.get(f"{VOLUMES}/detail", headers=headers()).json()["volumes"]
    assert detailed[0]["attachments"] == [attachment]

    before = _rows(app.state.engine)
    assert _action(client, volume.id, body).status_code == 400  # already in-use
    assert client.delete(f"{VOLUMES}/{volume.id}", headers=headers()).status_code == 400
    wrong = {"os-detach": {"attachment_id": MISSING}}
    assert _action(client, volume.id, wrong).status_code == 404
    assert _rows(app.state.engine) == before

    detached = _action(client, volume.id, {"os-detach": {"attachment_id": None}})
    assert detached.status_code == 202
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert (shown["status"], shown["attachments"]) == ("available", [])
    assert _action(client, volume.id, {"os-detach": {}}).status_code == 400


def test_host_attachment_shows_the_host_to_admins_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    body = {"os-attach": {"mountpoint": "/mnt/a", "host_name": "node-1"}}
    assert _action(client, volume.id, body).status_code == 202
    user_view = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    admin_view = client.get(f"{VOLUMES}/{volume.id}", headers=headers(user=ADMIN)).json()["volume"]
    assert user_view["attachments"][0]["host_name"] is None
    assert admin_view["attachments"][0]["host_name"] == "node-1"
    assert admin_view["attachments"][0]["server_id"] is None


@pytest.mark.parametrize(
    "value",
    [
        {"mountpoint": "/dev/vdb"},  # no target
        {"instance_uuid": SERVER},  # no mountpoint
        {"instance_uuid": "not-a-uuid", "mountpoint": "/dev/vdb"},
        {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "rx"},
        {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "extra": 1},
    ],
)
def test_bad_attach_changes_nothing(
    client: TestClient, app: FastAPI, session: Session, settings: Settings, value: dict[str, Any]
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    before = _rows(app.state.engine)
    assert _action(client, volume.id, {"os-attach": value}).status_code == 400
    assert _rows(app.state.engine) == before


def test_attach_of_another_projects_volume_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    body = {"os-attach": {"mountpoint": "/dev/vdb", "instance_uuid": SERVER}}
    assert _action(client, volume.id, body).status_code == 404


def test_admin_reset_to_detached_forgets_attachments(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    _action(client, volume.id, {"os-attach": {"mountpoint": "/m", "instance_uuid": SERVER}})
    reset = {"os-reset_status": {"status": "available", "attach_status": "detached"}}
    assert _action(client, volume.id, reset, user=ADMIN).status_code == 202
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert (shown["status"], shown["attachments"]) == ("available", [])


# -- backups of snapshots and of in-use volumes -----------------------------------------


def test_backup_of_a_snapshot(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    snap = _snapshot(session, volume)
    body = {"backup": {"volume_id": volume.id, "snapshot_id": snap.id}}
    response = client.post(f"/v3/{PROJECT}/backups", json=body, headers=headers())
    assert response.status_code == 202, response.text
    backup_id = response.json()["backup"]["id"]
    shown = client.get(f"/v3/{PROJECT}/backups/{backup_id}", headers=headers()).json()["backup"]
    snapshot_view = client.get(f"{SNAPSHOTS}/{snap.id}", headers=headers()).json()["snapshot"]
    assert shown["snapshot_id"] == snap.id
    assert shown["data_timestamp"] == snapshot_view["created_at"]
    assert snapshot_view["status"] == "backing-up"
    assert client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]["status"] == (
        "available"
    )
    # The snapshot's backup run failing gives the snapshot back.
    launcher.set_state(launcher.submissions[-1].flow_run_id, "FAILED", "boom")
    client.get(f"/v3/{PROJECT}/backups/{backup_id}", headers=headers())
    assert _get(app, snap.id).status == "available"


@pytest.mark.parametrize("case", ["other-volume", "not-available", "missing", "other-project"])
def test_bad_backup_of_a_snapshot_changes_nothing(
    client: TestClient, app: FastAPI, session: Session, settings: Settings, case: str
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    owner = OTHER_PROJECT if case == "other-project" else PROJECT
    source = make_volume(session, settings.volumes_dir, project=owner)
    of_volume = case in ("not-available", "missing")
    snap = _snapshot(session, volume if of_volume else source, project=owner)
    if case == "not-available":
        catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status="creating")
    snapshot_id = MISSING if case == "missing" else snap.id
    body = {"backup": {"volume_id": volume.id, "snapshot_id": snapshot_id}}
    before = _rows(app.state.engine)
    response = client.post(f"/v3/{PROJECT}/backups", json=body, headers=headers())
    expected = {"other-volume": 400, "not-available": 400, "missing": 404, "other-project": 404}
    assert response.status_code == expected[case], response.text
    assert _rows(app.state.engine) == before


def test_backup_of_an_in_use_volume_needs_force(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    _action(client, volume.id, {"os-attach": {"mountpoint": "/m", "instance_uuid": SERVER}})
    body: dict[str, Any] = {"backup": {"volume_id": volume.id}}
    before = _rows(app.state.engine)
    assert client.post(f"/v3/{PROJECT}/backups", json=body, headers=headers()).status_code == 400
    assert _rows(app.state.engine) == before
    body["backup"]["force"] = True
    assert client.post(f"/v3/{PROJECT}/backups", json=body, headers=headers()).status_code == 202
    with Session(app.state.engine) as db:
        vol = catalog.get_volume(session=db, volume_id=volume.id)
    assert (vol.status, vol.previous_status) == ("backing-up", "in-use")
    # Still attached while it is backed up.
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert len(shown["attachments"]) == 1
