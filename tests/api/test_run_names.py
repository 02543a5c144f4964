"""Runs the API starts are named for what they do and to what, and tagged for filtering."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.settings import Settings
from tests.api.helpers import BACKUPS, PROJECT, VOLUMES, headers, make_volume


def test_backup_runs_name_the_volume_and_the_mode_and_carry_tags(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir, name="db01")
    volume_id = volume.id
    resp = client.post(BACKUPS, json={"backup": {"volume_id": volume_id}}, headers=headers())
    assert resp.status_code == 202, resp.text
    backup_id = resp.json()["backup"]["id"]
    full = launcher.submissions[-1]
    assert full.run_name == "create-backup db01 full"
    assert full.tags == (
        f"project:{PROJECT}",
        "kind:backup",
        f"backup:{backup_id}",
        f"volume:{volume_id}",
    )
    session.expire_all()  # the API changed the rows through its own session
    assert catalog.finish_backup(
        session=session, backup_id=backup_id, object_count=1, stored_bytes=1
    )
    resp = client.post(
        BACKUPS, json={"backup": {"volume_id": volume_id, "incremental": True}}, headers=headers()
    )
    assert resp.status_code == 202, resp.text
    assert launcher.submissions[-1].run_name == "create-backup db01 incremental"


def test_a_resource_without_a_name_is_named_by_its_id(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    resp = client.post(VOLUMES, json={"volume": {"size": 1}}, headers=headers())
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    created = launcher.submissions[-1]
    assert created.run_name == f"create-volume {volume_id}"
    assert created.tags == (f"project:{PROJECT}", "kind:volume", f"volume:{volume_id}")
