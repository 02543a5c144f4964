"""Cinder v3 backups: create, list, show, delete, restore, and what each one starts."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.catalog import BackupStatus, VolumeStatus
from storage.settings import Settings

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, USER, catalog_rows, headers, make_volume

BACKUPS = f"/v3/{PROJECT}/backups"


def _create(client: TestClient, volume_id: str, mv: str | None = None, **extra: Any) -> str:
    body = {"backup": {"volume_id": volume_id, "name": "b1", **extra}}
    response = client.post(BACKUPS, json=body, headers=headers(mv=mv))
    assert response.status_code == 202, response.text
    return str(response.json()["backup"]["id"])


def test_create_answers_summary_and_starts_create_backup(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    response = client.post(
        BACKUPS,
        json={
            "backup": {
                "volume_id": volume.id,
                "name": "nightly",
                "description": "d",
                "container": None,
                "incremental": False,
                "force": False,
                "snapshot_id": None,
            }
        },
        headers=headers(),
    )
    assert response.status_code == 202
    summary = response.json()["backup"]
    assert set(summary) == {"id", "links", "name"}
    assert summary["name"] == "nightly"
    assert summary["links"][0] == {
        "href": f"http://testserver/v3/{PROJECT}/backups/{summary['id']}",
        "rel": "self",
    }
    backup = catalog.get_backup(session=session, backup_id=summary["id"])
    session.refresh(volume)
    assert backup.status == BackupStatus.CREATING
    assert volume.status == VolumeStatus.BACKING_UP
    [sub] = launcher.submissions
    assert sub.deployment == "create-backup/safehold"
    assert sub.parameters == {"backup_id": backup.id}
    assert sub.run_name == "create-backup vol full"  # the volume by name, and the mode
    assert sub.idempotency_key == f"create-backup:{backup.id}:{backup.op_token}"
    assert backup.flow_run_id == sub.flow_run_id


def test_create_with_metadata_at_3_43(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup_id = _create(client, volume.id, mv="3.43", metadata={"tier": "gold"})
    shown = client.get(f"{BACKUPS}/{backup_id}", headers=headers(mv="3.43")).json()
    assert shown["backup"]["metadata"] == {"tier": "gold"}


@pytest.mark.parametrize(
    ("extra", "mv", "fragment"),
    [
        ({"incremental": True}, None, "No backups available to do an incremental backup."),
        ({"metadata": {"a": "b"}}, "3.42", "('metadata' was unexpected)"),
        ({"availability_zone": "nova"}, "3.50", "('availability_zone' was unexpected)"),
        ({"unknown": 1}, None, "('unknown' was unexpected)"),
        ({"name": "x" * 256}, None, "backup.name"),
        ({"metadata": {"bad*key": "v"}}, "3.43", "backup.metadata"),
    ],
)
def test_bad_create_changes_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    extra: dict[str, Any],
    mv: str | None,
    fragment: str,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    before = catalog_rows(app.state.engine)
    body = {"backup": {"volume_id": volume.id, **extra}}
    response = client.post(BACKUPS, json=body, headers=headers(mv=mv))
    assert response.status_code == 400
    assert fragment in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []


def test_backup_of_a_busy_volume_is_400(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir, status=VolumeStatus.CREATING)
    response = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    assert response.status_code == 400
    assert "current status is" in response.json()["badRequest"]["message"]
    assert launcher.submissions == []


def test_backup_of_another_projects_volume_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    response = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    assert response.status_code == 404


def test_another_projects_backup_is_not_visible(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup_id = _create(client, volume.id)
    other = headers(project=OTHER_PROJECT)
    assert client.get(f"/v3/{OTHER_PROJECT}/backups/{backup_id}", headers=other).status_code == 404
    assert (
        client.delete(f"/v3/{OTHER_PROJECT}/backups/{backup_id}", headers=other).status_code == 404
    )
    listed = client.get(f"/v3/{OTHER_PROJECT}/backups/detail", headers=other).json()
    assert listed == {"backups": []}


def test_admin_sees_any_project_and_all_tenants(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup_id = _create(client, volume.id)
    admin = headers(user=ADMIN, project=OTHER_PROJECT, mv="3.56")
    shown = client.get(f"/v3/{OTHER_PROJECT}/backups/{backup_id}", headers=admin).json()
    assert shown["backup"]["os-backup-project-attr:project_id"] == PROJECT
    assert shown["backup"]["user_id"] == USER
    own = client.get(f"/v3/{OTHER_PROJECT}/backups", headers=admin).json()
    assert own == {"backups": []}
    everyone = client.get(f"/v3/{OTHER_PROJECT}/backups?all_tenants=1", headers=admin).json()
    assert [b["id"] for b in everyone["backups"]] == [backup_id]


def test_all_tenants_is_ignored_for_users(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    catalog.begin_backup(
        session=session, project_id=OTHER_PROJECT, user_id="bob", volume_id=volume.id
    )
    listed = client.get(f"{BACKUPS}?all_tenants=True", headers=headers()).json()
    assert listed == {"backups": []}


def test_user_does_not_see_owner_fields(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup_id = _create(client, volume.id)
    shown = client.get(f"{BACKUPS}/{backup_id}", headers=headers(mv="3.64")).json()["backup"]
    assert "os-backup-project-attr:project_id" not in shown
    assert "user_id" not in shown
    assert "encryption_key_id" not in shown
    assert shown["metadata"] == {}


def _backups(session: Session, settings: Settings, count: int) -> list[str]:
    ids = []
    for n in range(count):
        volume = make_volume(session, settings.volumes_dir, name=f"v{n}")
        backup = catalog.begin_backup(
            session=session, project_id=PROJECT, user_id=USER, volume_id=volume.id, name=f"b{n}"
        )
        ids.append(backup.id)
    return ids


def test_list_paginates_with_backups_links(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _backups(session, settings, 3)
    first = client.get(f"{BACKUPS}?limit=2", headers=headers()).json()
    assert len(first["backups"]) == 2
    [link] = first["backups_links"]
    assert link["rel"] == "next"
    parts = urlsplit(link["href"])
    assert parts.path == BACKUPS
    query = parse_qs(parts.query)
    assert query == {"limit": ["2"], "marker": [first["backups"][-1]["id"]]}
    second = client.get(link["href"], headers=headers()).json()
    assert len(second["backups"]) == 1
    assert "backups_links" not in second
    seen = {b["id"] for b in first["backups"] + second["backups"]}
    assert len(seen) == 3


def test_list_sorts_filters_and_counts(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _backups(session, settings, 3)
    url = f"{BACKUPS}/detail?sort=display_name:asc&with_count=True"
    listed = client.get(url, headers=headers(mv="3.45")).json()
    assert [b["name"] for b in listed["backups"]] == ["b0", "b1", "b2"]
    assert listed["count"] == 3
    filtered = client.get(f"{BACKUPS}?name=b1", headers=headers()).json()
    assert [b["name"] for b in filtered["backups"]] == ["b1"]
    offset_url = f"{BACKUPS}?sort=name:asc&offset=1&limit=1"  # sorting by name: 3.37
    offset = client.get(offset_url, headers=headers(mv="3.37")).json()
    assert [b["name"] for b in offset["backups"]] == ["b1"]


def test_count_needs_3_45(client: TestClient) -> None:
    listed = client.get(f"{BACKUPS}?with_count=true", headers=headers(mv="3.44")).json()
    assert listed == {"backups": []}


@pytest.mark.parametrize(
    ("query", "mv", "fragment"),
    [
        ("limit=x", None, "limit param must be an integer"),
        ("limit=-1", None, "limit param must be positive"),
        ("offset=-2", None, "offset param must be positive"),
        ("sort=display_name:sideways", None, "Invalid sort direction"),
        ("sort=colour", None, "Invalid sort key"),
        ("sort=name&sort_key=id", None, "cannot be used with the 'sort' parameter"),
        ("all_tenants=maybe", None, "all_tenants"),
        ("colour=red", "3.31", "Invalid filter keys: colour"),
    ],
)
def test_bad_list_queries_are_400(
    client: TestClient, query: str, mv: str | None, fragment: str
) -> None:
    response = client.get(f"{BACKUPS}?{query}", headers=headers(mv=mv))
    assert response.status_code == 400
    assert fragment in response.json()["badRequest"]["message"]


def test_unknown_filters_are_dropped_before_3_31(client: TestClient) -> None:
    response = client.get(f"{BACKUPS}?colour=red", headers=headers(mv="3.30"))
    assert response.status_code == 200


def test_unknown_marker_is_404(client: TestClient) -> None:
    response = client.get(f"{BACKUPS}?marker=nope", headers=headers())
    assert response.status_code == 404


def _available_backup(client: TestClient, session: Session, settings: Settings) -> str:
    volume = make_volume(session, settings.volumes_dir, size=2)
    backup_id = _create(client, volume.id)
    assert catalog.finish_backup(
        session=session, backup_id=backup_id, object_count=3, stored_bytes=10
    )
    return backup_id


def test_delete_starts_delete_backup(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id = _available_backup(client, session, settings)
    response = client.delete(f"{BACKUPS}/{backup_id}", headers=headers())
    assert response.status_code == 202
    assert response.content == b""
    assert catalog.get_backup(session=session, backup_id=backup_id).status == "deleting"
    sub = launcher.submissions[-1]
    assert (sub.deployment, sub.parameters) == ("delete-backup/safehold", {"backup_id": backup_id})


def test_delete_while_creating_is_400(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup_id = _create(client, volume.id)
    response = client.delete(f"{BACKUPS}/{backup_id}", headers=headers())
    assert response.status_code == 400
    assert catalog.get_backup(session=session, backup_id=backup_id).status == "creating"


def test_restore_to_a_new_volume(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id = _available_backup(client, session, settings)
    response = client.post(
        f"{BACKUPS}/{backup_id}/restore", json={"restore": None}, headers=headers()
    )
    assert response.status_code == 202
    restore = response.json()["restore"]
    assert set(restore) == {"backup_id", "volume_id", "volume_name"}
    assert restore["volume_name"] == f"restore_backup_{backup_id}"
    sub = launcher.submissions[-1]
    assert sub.deployment == "restore-backup/safehold"
    assert sub.parameters == {"backup_id": backup_id, "volume_id": restore["volume_id"]}
    assert catalog.get_backup(session=session, backup_id=backup_id).status == "restoring"


def test_restore_to_an_existing_volume_with_name_ignored(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup_id = _available_backup(client, session, settings)
    target = make_volume(session, settings.volumes_dir, size=2, name="target")
    body = {"restore": {"volume_id": target.id, "name": "ignored"}}
    response = client.post(f"{BACKUPS}/{backup_id}/restore", json=body, headers=headers())
    assert response.status_code == 202
    assert response.json()["restore"] == {
        "backup_id": backup_id,
        "volume_id": target.id,
        "volume_name": "target",
    }


def test_restoring_twice_makes_two_runs(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id = _available_backup(client, session, settings)
    for _ in range(2):
        response = client.post(
            f"{BACKUPS}/{backup_id}/restore", json={"restore": {}}, headers=headers()
        )
        assert response.status_code == 202
        assert catalog.finish_restore(session=session, backup_id=backup_id)
    restores = [s for s in launcher.submissions if s.deployment.startswith("restore")]
    assert len({s.flow_run_id for s in restores}) == 2
    assert len({s.idempotency_key for s in restores}) == 2


@pytest.mark.parametrize(
    "body", [{}, {"restore": {"volume_id": "nope"}}, {"restore": {"colour": 1}}, {"restore": 3}]
)
def test_bad_restore_changes_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    body: dict[str, Any],
) -> None:
    backup_id = _available_backup(client, session, settings)
    before, submitted = catalog_rows(app.state.engine), len(launcher.submissions)
    response = client.post(f"{BACKUPS}/{backup_id}/restore", json=body, headers=headers())
    assert response.status_code == 400
    assert catalog_rows(app.state.engine) == before
    assert len(launcher.submissions) == submitted


def test_restore_onto_a_smaller_volume_is_400(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup_id = _available_backup(client, session, settings)
    small = make_volume(session, settings.volumes_dir, size=1)
    body = {"restore": {"volume_id": small.id}}
    response = client.post(f"{BACKUPS}/{backup_id}/restore", json=body, headers=headers())
    assert response.status_code == 400
    session.refresh(small)
    assert small.status == "available"
