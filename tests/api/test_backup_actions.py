"""Backup update (PUT, 3.9+) and the admin actions os-reset_status and os-force_delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.catalog import Backup
from storage.objects import open_store_from_settings
from storage.settings import Settings
from tests.storage.catalog.stored import stored_backup, volume_file

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, catalog_rows, headers, make_volume

BACKUPS = f"/v3/{PROJECT}/backups"
ADMIN_HEADERS = headers(user=ADMIN)


def _backup(session: Session, settings: Settings, *, finish: bool = True) -> Backup:
    volume = make_volume(session, settings.volumes_dir)
    backup = catalog.begin_backup(
        session=session, project_id=PROJECT, user_id="alice", volume_id=volume.id, name="b"
    )
    if finish:
        catalog.finish_backup(session=session, backup_id=backup.id, object_count=1, stored_bytes=1)
    session.refresh(backup)
    return backup


def _put(client: TestClient, backup_id: str, body: Any, mv: str | None = "3.9", **kw: Any) -> Any:
    return client.put(f"{BACKUPS}/{backup_id}", json=body, headers=headers(mv=mv, **kw))


def test_update_at_3_9_answers_the_summary(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = _backup(session, settings)
    body = {"backup": {"name": "  renamed ", "description": "said "}}
    response = _put(client, backup.id, body)
    assert response.status_code == 200
    assert response.headers["OpenStack-API-Version"] == "volume 3.9"
    summary = response.json()["backup"]
    assert set(summary) == {"id", "links", "name"}
    assert summary["name"] == "renamed"  # trimmed, as Cinder
    session.refresh(backup)
    assert (backup.name, backup.description, backup.status) == ("renamed", "said", "available")


def test_update_metadata_replaces_the_whole_dict_at_3_43(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = _backup(session, settings)
    assert _put(client, backup.id, {"backup": {"metadata": {"a": "1"}}}, "3.43").status_code == 200
    assert _put(client, backup.id, {"backup": {"metadata": {"b": "2"}}}, "3.43").status_code == 200
    shown = client.get(f"{BACKUPS}/{backup.id}", headers=headers(mv="3.43")).json()["backup"]
    assert shown["metadata"] == {"b": "2"}
    assert shown["name"] == "b"  # untouched: not in the body


@pytest.mark.parametrize(
    ("body", "mv", "fragment"),
    [
        ({"backup": {"metadata": {"a": "1"}}}, "3.42", "('metadata' was unexpected)"),
        ({"backup": {"status": "error"}}, "3.9", "('status' was unexpected)"),
        ({"backup": {"name": "x" * 256}}, "3.9", "backup.name"),
        ({"name": "x"}, "3.9", "field/attribute backup"),
        ({"backup": {"metadata": {"bad*key": "v"}}}, "3.43", "backup.metadata"),
    ],
)
def test_bad_update_is_400_and_changes_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    body: dict[str, Any],
    mv: str,
    fragment: str,
) -> None:
    backup = _backup(session, settings)
    before = catalog_rows(app.state.engine)
    response = _put(client, backup.id, body, mv)
    assert response.status_code == 400
    assert fragment in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


@pytest.mark.parametrize("mv", [None, "3.8"])
def test_update_does_not_exist_before_3_9(
    client: TestClient, session: Session, settings: Settings, mv: str | None
) -> None:
    backup = _backup(session, settings)
    # 404 before the body is even looked at, as Cinder's version routing does.
    response = _put(client, backup.id, {"nonsense": True}, mv)
    assert response.status_code == 404
    assert list(response.json()) == ["itemNotFound"]


def test_update_of_another_projects_backup_is_404_but_admin_may(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = _backup(session, settings)
    other = client.put(
        f"/v3/{OTHER_PROJECT}/backups/{backup.id}",
        json={"backup": {"name": "mine"}},
        headers=headers(project=OTHER_PROJECT, mv="3.9"),
    )
    assert other.status_code == 404
    admin = client.put(
        f"/v3/{OTHER_PROJECT}/backups/{backup.id}",
        json={"backup": {"name": "fixed"}},
        headers=headers(user=ADMIN, project=OTHER_PROJECT, mv="3.9"),
    )
    assert admin.status_code == 200
    session.refresh(backup)
    assert backup.name == "fixed"


def _action(client: TestClient, backup_id: str, body: Any, hdrs: dict[str, str]) -> Any:
    return client.post(f"{BACKUPS}/{backup_id}/action", json=body, headers=hdrs)


@pytest.mark.parametrize(
    "body", [{"os-reset_status": {"status": "error"}}, {"os-force_delete": {}}]
)
def test_actions_are_admin_only(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    body: dict[str, Any],
) -> None:
    backup = _backup(session, settings)
    before = catalog_rows(app.state.engine)
    response = _action(client, backup.id, body, headers())
    assert response.status_code == 403
    assert "backup_admin_actions" in response.json()["forbidden"]["message"]
    assert catalog_rows(app.state.engine) == before
    assert len(launcher.submissions) == 0


def test_reset_status_is_202_empty(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = _backup(session, settings)
    response = _action(client, backup.id, {"os-reset_status": {"status": "Error"}}, ADMIN_HEADERS)
    assert response.status_code == 202
    assert response.content == b""
    session.refresh(backup)
    assert backup.status == "error"


def test_reset_of_a_creating_backup_releases_its_volume(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = _backup(session, settings, finish=False)
    body = {"os-reset_status": {"status": "error"}}
    assert _action(client, backup.id, body, ADMIN_HEADERS).status_code == 202
    volume = catalog.get_volume(session=session, volume_id=backup.volume_id)
    session.refresh(backup)
    assert (backup.status, volume.status) == ("error", "available")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"os-reset_status": {"status": "deleting"}}, "Invalid backup status"),
        ({"os-reset_status": {}}, "os-reset_status.status"),
        ({"os-reset_status": {"status": "error", "x": 1}}, "('x' was unexpected)"),
        ({"os-reset_status": None}, "os-reset_status"),
        ({"os-frobnicate": {}}, "There is no such action: os-frobnicate"),
        ({"os-force_delete": {}, "os-reset_status": {"status": "error"}}, "exactly one"),
    ],
)
def test_bad_actions_are_400_and_change_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    body: dict[str, Any],
    fragment: str,
) -> None:
    backup = _backup(session, settings)
    before = catalog_rows(app.state.engine)
    response = _action(client, backup.id, body, ADMIN_HEADERS)
    assert response.status_code == 400
    assert fragment in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def test_actions_on_a_missing_backup_are_404(client: TestClient) -> None:
    missing = "5b1f2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
    for body in ({"os-reset_status": {"status": "error"}}, {"os-force_delete": {}}):
        assert _action(client, missing, body, ADMIN_HEADERS).status_code == 404


@pytest.mark.parametrize("value", [{}, None])
def test_force_delete_starts_delete_backup(
    client: TestClient,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    value: dict[str, Any] | None,
) -> None:
    backup = _backup(session, settings)
    catalog.begin_restore(
        session=session,
        backup_id=backup.id,
        project_id=PROJECT,
        user_id="alice",
        volumes_dir=settings.volumes_dir,
    )
    response = _action(client, backup.id, {"os-force_delete": value}, ADMIN_HEADERS)
    assert response.status_code == 202
    assert response.content == b""
    session.refresh(backup)
    assert backup.status == "deleting"
    sub = launcher.submissions[-1]
    assert (sub.deployment, sub.parameters) == ("delete-backup/safehold", {"backup_id": backup.id})
    assert sub.idempotency_key == f"delete-backup:{backup.id}:{backup.op_token}"
    assert backup.flow_run_id == sub.flow_run_id


def test_force_delete_waits_for_a_live_create_run(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    created = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    backup_id = created.json()["backup"]["id"]
    before = catalog_rows(app.state.engine)
    refused = _action(client, backup_id, {"os-force_delete": {}}, ADMIN_HEADERS)
    assert refused.status_code == 400
    assert "still being created" in refused.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before
    # Once the run has died (here: crashed), the same call settles it and deletes.
    launcher.set_state(launcher.submissions[-1].flow_run_id, "CRASHED", "worker lost")
    assert _action(client, backup_id, {"os-force_delete": {}}, ADMIN_HEADERS).status_code == 202
    backup = catalog.get_backup(session=session, backup_id=backup_id)
    session.refresh(volume)
    assert (backup.status, volume.status) == ("deleting", "available")
    assert launcher.submissions[-1].deployment == "delete-backup/safehold"


def test_reset_after_a_dead_run_keeps_its_reason(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    created = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    backup_id = created.json()["backup"]["id"]
    launcher.set_state(launcher.submissions[-1].flow_run_id, "FAILED", "disk on fire")
    body = {"os-reset_status": {"status": "error"}}
    assert _action(client, backup_id, body, ADMIN_HEADERS).status_code == 202
    backup = catalog.get_backup(session=session, backup_id=backup_id)
    assert backup.status == "error"
    assert "disk on fire" in (backup.fail_reason or "")


def test_force_delete_with_dependents_is_400(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    backup = _backup(session, settings)
    backup.num_dependent_backups = 1
    session.add(backup)
    session.commit()
    before = catalog_rows(app.state.engine)
    response = _action(client, backup.id, {"os-force_delete": {}}, ADMIN_HEADERS)
    assert response.status_code == 400
    assert "Incremental backups exist" in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def test_force_delete_that_cannot_start_leaves_error_deleting(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup = _backup(session, settings)
    launcher.fail_with = "prefect is down"
    response = _action(client, backup.id, {"os-force_delete": {}}, ADMIN_HEADERS)
    assert response.status_code == 503
    session.refresh(backup)
    assert backup.status == "error_deleting"
    assert "could not start delete-backup" in (backup.fail_reason or "")


def test_reset_of_a_live_backup_cancels_its_run(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    created = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    backup_id = created.json()["backup"]["id"]
    run_id = launcher.submissions[-1].flow_run_id
    launcher.set_state(run_id, "RUNNING")
    body = {"os-reset_status": {"status": "error"}}
    assert _action(client, backup_id, body, ADMIN_HEADERS).status_code == 202
    assert [run for run, _ in launcher.cancelled] == [run_id]
    assert "status reset to error" in launcher.cancelled[0][1]
    assert launcher.states[run_id].type == "CANCELLING"
    # A settled backup has no live run: resetting it again cancels nothing more.
    assert _action(client, backup_id, body, ADMIN_HEADERS).status_code == 202
    assert len(launcher.cancelled) == 1


def test_force_delete_of_a_live_restore_cancels_the_restore_run(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup = _backup(session, settings)
    restored = client.post(
        f"{BACKUPS}/{backup.id}/restore", json={"restore": {}}, headers=headers()
    )
    assert restored.status_code == 202
    restore_run = launcher.submissions[-1].flow_run_id
    launcher.set_state(restore_run, "RUNNING")
    assert _action(client, backup.id, {"os-force_delete": {}}, ADMIN_HEADERS).status_code == 202
    assert [run for run, _ in launcher.cancelled] == [restore_run]
    session.refresh(backup)
    assert backup.status == "deleting" and backup.flow_run_id != restore_run


def test_reset_to_available_needs_committed_data(
    client: TestClient, session: Session, settings: Settings, app: FastAPI
) -> None:
    store = open_store_from_settings(settings)
    volume = make_volume(session, settings.volumes_dir)
    source = volume_file(Path(volume.path), seed=3)
    stored, _ = stored_backup(session, store, project=PROJECT, volume_id=volume.id, source=source)
    catalog.reset_backup_status(session=session, backup_id=stored.id, status="error")
    body = {"os-reset_status": {"status": "available"}}
    assert _action(client, stored.id, body, ADMIN_HEADERS).status_code == 202
    session.refresh(stored)
    assert stored.status == "available"

    never_written = _backup(session, settings, finish=False)
    catalog.reset_backup_status(session=session, backup_id=never_written.id, status="error")
    before = catalog_rows(app.state.engine)
    refused = _action(client, never_written.id, body, ADMIN_HEADERS)
    assert refused.status_code == 400
    assert "not in the backup store" in refused.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before
