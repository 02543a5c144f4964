"""Golden tests at each microversion boundary up to the maximum (3.71), and beyond it.

Every body of the backup, snapshot and volume subset is read at consecutive versions from
3.64 on; the only keys a step may add are the ones Cinder adds there (3.65:
`consumes_quota` in snapshot and volume details), and none may go. Behaviour changes
(3.66 force, 3.67 project-less URLs, 3.69 shared_targets, 3.72 refused) are checked too.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.cinder.microversion import MAX_VERSION
from api.cinder.routes.snapshots import SNAPSHOT_IN_USE_FLAG_MSG
from storage import catalog
from storage.settings import Settings

from .golden import assert_same_shape
from .helpers import ADMIN, PROJECT, USER, headers, make_snapshot, make_volume
from .test_golden import _sample

STEPS = ["3.64", "3.65", "3.66", "3.67", "3.68", "3.69", "3.70", "3.71"]
QUOTA = {"consumes_quota"}
# (kind, step's upper version) -> keys that version adds, as Cinder's view builders do.
ADDED: dict[tuple[str, str], set[str]] = {
    ("snapshot create", "3.65"): QUOTA,
    ("snapshot show", "3.65"): QUOTA,
    ("snapshot update", "3.65"): QUOTA,
    ("snapshot detail", "3.65"): QUOTA,
    ("volume create", "3.65"): QUOTA,
    ("volume show", "3.65"): QUOTA,
    ("volume detail", "3.65"): QUOTA,
}


def _keys(body: dict[str, Any]) -> set[str]:
    (value,) = body.values()
    item = value[0] if isinstance(value, list) else value
    return set(item)


def _bodies(client: TestClient, session: Session, settings: Settings, mv: str) -> dict[str, Any]:
    """Every body kind of the subset, made at `mv` by an admin (as the samples were)."""
    h = headers(user=ADMIN, mv=mv)
    volume = make_volume(session, settings.volumes_dir)
    snap = client.post(
        f"/v3/{PROJECT}/snapshots", json={"snapshot": {"volume_id": volume.id}}, headers=h
    )
    sid = snap.json()["snapshot"]["id"]
    backup = client.post(
        f"/v3/{PROJECT}/backups", json={"backup": {"volume_id": volume.id}}, headers=h
    )
    bid = backup.json()["backup"]["id"]
    vol = client.post(f"/v3/{PROJECT}/volumes", json={"volume": {"size": 1}}, headers=h)
    vid = vol.json()["volume"]["id"]

    def get(path: str) -> Any:
        return client.get(f"/v3/{PROJECT}/{path}", headers=h).json()

    return {
        "snapshot create": snap.json(),
        "snapshot show": get(f"snapshots/{sid}"),
        "snapshot update": client.put(
            f"/v3/{PROJECT}/snapshots/{sid}", json={"snapshot": {"name": "n"}}, headers=h
        ).json(),
        "snapshot list": get("snapshots"),
        "snapshot detail": get("snapshots/detail"),
        "backup create": backup.json(),
        "backup show": get(f"backups/{bid}"),
        "backup list": get("backups"),
        "backup detail": get("backups/detail"),
        "volume create": vol.json(),
        "volume show": get(f"volumes/{vid}"),
        "volume list": get("volumes"),
        "volume detail": get("volumes/detail"),
    }


@pytest.fixture
def shapes(client: TestClient, session: Session, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every body kind at every step from 3.64 to 3.71."""
    return {mv: _bodies(client, session, settings, mv) for mv in STEPS}


def test_each_step_adds_only_what_cinder_adds(shapes: dict[str, dict[str, Any]]) -> None:
    for low, high in zip(STEPS, STEPS[1:], strict=False):
        for kind, body in shapes[high].items():
            before, after = _keys(shapes[low][kind]), _keys(body)
            assert before - after == set(), (kind, low, high)
            assert after - before == ADDED.get((kind, high), set()), (kind, low, high)


def test_bodies_at_3_65_and_3_71_match_the_samples(shapes: dict[str, dict[str, Any]]) -> None:
    for mv in ("3.65", "3.71"):
        bodies = shapes[mv]
        for kind, name in [
            ("snapshot create", "snapshot-create-response.json"),
            ("snapshot show", "snapshot-show-response.json"),
            ("snapshot update", "snapshot-update-response.json"),
            ("snapshot detail", "snapshots-list-detailed-response.json"),
        ]:
            assert_same_shape(bodies[kind], _sample(f"snapshots/v3.65/{name}"))
        folder = "v3.65" if mv == "3.65" else "v3.69"
        for kind, name in [
            ("volume create", "volume-create-response.json"),
            ("volume show", "volume-show-response.json"),
            ("volume detail", "volumes-list-detailed-response.json"),
        ]:
            assert_same_shape(bodies[kind], _sample(f"volumes/{folder}/{name}"))
        assert_same_shape(bodies["backup show"], _sample("backups/v3.56/backup-show-response.json"))
        assert bodies["snapshot show"]["snapshot"]["consumes_quota"] is True
        assert bodies["volume show"]["volume"]["consumes_quota"] is True


def test_shared_targets_is_false_on_both_sides_of_3_69(
    shapes: dict[str, dict[str, Any]],
) -> None:
    # From 3.69 it may be null (forced locking); no target is shared here, so false.
    for mv in ("3.68", "3.69", "3.71"):
        assert shapes[mv]["volume show"]["volume"]["shared_targets"] is False


# -- 3.65 / 3.66: snapshots of in-use volumes ---------------------------------------------


def _snapshot(client: TestClient, volume_id: str, mv: str, **extra: Any) -> Any:
    body = {"snapshot": {"volume_id": volume_id, **extra}}
    return client.post(f"/v3/{PROJECT}/snapshots", json=body, headers=headers(mv=mv))


def test_in_use_snapshots_need_force_until_3_65_and_nothing_from_3_66(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, status="in-use")
    refused = _snapshot(client, volume.id, "3.65")
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {volume.id} status must be available, "
        "but current status is: in-use."
    )
    assert _snapshot(client, volume.id, "3.65", force=True).status_code == 202
    assert _snapshot(client, volume.id, "3.66").status_code == 202
    assert _snapshot(client, volume.id, "3.66", force=True).status_code == 202  # ignored
    assert _snapshot(client, volume.id, "3.71", force="yes").status_code == 202


def test_force_false_is_invalid_from_3_66(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    assert _snapshot(client, volume.id, "3.65", force=False).status_code == 202
    for mv in ("3.66", "3.71"):
        refused = _snapshot(client, volume.id, mv, force=False)
        assert refused.status_code == 400
        assert refused.json()["badRequest"]["message"] == SNAPSHOT_IN_USE_FLAG_MSG
    assert SNAPSHOT_IN_USE_FLAG_MSG.startswith("Since microversion 3.66 the 'force' flag")


# -- 3.66 / 3.67: project-less URLs -------------------------------------------------------


@pytest.mark.parametrize("mv", ["3.66", "3.67"])
def test_project_less_urls_are_served_on_both_sides_of_3_67(
    client: TestClient, session: Session, settings: Settings, mv: str
) -> None:
    # Cinder maps them unversioned; documented as 3.67.
    snapshot = make_snapshot(session, make_volume(session, settings.volumes_dir))
    with_project = client.get(f"/v3/{PROJECT}/snapshots/{snapshot.id}", headers=headers(mv=mv))
    without = client.get(f"/v3/snapshots/{snapshot.id}", headers=headers(mv=mv))
    assert without.status_code == 200
    assert without.json() == with_project.json()


# -- the maximum and beyond ----------------------------------------------------------------


def test_latest_is_3_71_and_the_documents_say_so(client: TestClient) -> None:
    assert str(MAX_VERSION) == "3.71"
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv="latest"))
    assert response.headers["OpenStack-API-Version"] == "volume 3.71"
    for path, status in (("/", 300), ("/v3/", 200)):
        document = client.get(path)
        assert document.status_code == status
        v3 = document.json()["versions"][0]
        assert (v3["id"], v3["min_version"], v3["version"]) == ("v3.0", "3.0", "3.71")


@pytest.mark.parametrize("path", ["/", "/v3/", f"/v3/{PROJECT}/backups", "/v3/volumes"])
def test_3_72_is_refused_with_406(client: TestClient, path: str) -> None:
    response = client.get(path, headers=headers(user=USER, mv="3.72"))
    assert response.status_code == 406
    assert response.json() == {
        "computeFault": {
            "code": 406,
            "message": "Version 3.72 is not supported by the API. "
            "Minimum is 3.0 and maximum is 3.71.",
        }
    }
    assert response.headers["OpenStack-API-Version"] == "volume 3.72"


def test_backup_bodies_do_not_change_after_3_64(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup = catalog.begin_backup(
        session=session, project_id=PROJECT, user_id=USER, volume_id=volume.id
    )
    bodies = [
        client.get(f"/v3/{PROJECT}/backups/{backup.id}", headers=headers(mv=mv)).json()
        for mv in STEPS
    ]
    assert all(body == bodies[0] for body in bodies)
