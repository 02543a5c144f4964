"""Status follows the flow run; a failed submission leaves no half-done rows (503)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.settings import Settings

from .helpers import ADMIN, PROJECT, headers, make_volume

BACKUPS = f"/v3/{PROJECT}/backups"
VOLUMES = f"/v3/{PROJECT}/volumes"


def _creating_backup(client: TestClient, session: Session, settings: Settings) -> tuple[str, str]:
    volume = make_volume(session, settings.volumes_dir)
    response = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    assert response.status_code == 202
    return response.json()["backup"]["id"], volume.id


def test_crashed_run_turns_backup_into_error(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id, volume_id = _creating_backup(client, session, settings)
    run_id = launcher.submissions[0].flow_run_id
    launcher.set_state(run_id, "CRASHED", "worker killed")
    shown = client.get(f"{BACKUPS}/{backup_id}", headers=headers()).json()["backup"]
    assert shown["status"] == "error"
    assert shown["fail_reason"] == (
        f"flow run {run_id} crashed: the process running the operation stopped"
    )
    admin = client.get(f"{BACKUPS}/{backup_id}", headers=headers(ADMIN)).json()["backup"]
    assert admin["fail_reason"] == f"flow run {run_id} crashed: worker killed"
    volume = client.get(f"{VOLUMES}/{volume_id}", headers=headers()).json()["volume"]
    assert volume["status"] == "available"


def test_vanished_run_is_repaired_in_lists_too(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id, _ = _creating_backup(client, session, settings)
    run_id = launcher.submissions[0].flow_run_id
    launcher.forget(run_id)
    listed = client.get(f"{BACKUPS}/detail", headers=headers()).json()["backups"]
    assert [(b["id"], b["status"]) for b in listed] == [(backup_id, "error")]
    assert listed[0]["fail_reason"] == f"flow run {run_id} no longer exists"


def test_running_or_unreadable_runs_leave_the_row_alone(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id, _ = _creating_backup(client, session, settings)
    launcher.set_state(launcher.submissions[0].flow_run_id, "RUNNING")
    assert (
        client.get(f"{BACKUPS}/{backup_id}", headers=headers()).json()["backup"]["status"]
        == "creating"
    )
    launcher.fail_with = "prefect is down"
    assert (
        client.get(f"{BACKUPS}/{backup_id}", headers=headers()).json()["backup"]["status"]
        == "creating"
    )


def test_settled_rows_cost_no_state_reads(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id, _ = _creating_backup(client, session, settings)
    assert catalog.finish_backup(
        session=session, backup_id=backup_id, object_count=1, stored_bytes=1
    )
    reads = launcher.state_reads
    client.get(f"{BACKUPS}/{backup_id}", headers=headers())
    client.get(f"{BACKUPS}/detail", headers=headers())
    assert launcher.state_reads == reads


def test_crashed_restore_frees_the_backup_and_fails_the_new_volume(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id, _ = _creating_backup(client, session, settings)
    assert catalog.finish_backup(
        session=session, backup_id=backup_id, object_count=1, stored_bytes=1
    )
    restore = client.post(
        f"{BACKUPS}/{backup_id}/restore", json={"restore": None}, headers=headers()
    ).json()["restore"]
    launcher.set_state(launcher.submissions[-1].flow_run_id, "FAILED", "disk full")
    volume = client.get(f"{VOLUMES}/{restore['volume_id']}", headers=headers()).json()["volume"]
    assert volume["status"] == "error"
    backup = client.get(f"{BACKUPS}/{backup_id}", headers=headers()).json()["backup"]
    assert backup["status"] == "available"


def test_cancelled_volume_creation_is_error(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    created = client.post(VOLUMES, json={"volume": {"size": 1}}, headers=headers()).json()
    launcher.set_state(launcher.submissions[0].flow_run_id, "CANCELLED")
    listed = client.get(f"{VOLUMES}/detail", headers=headers()).json()["volumes"]
    assert [(v["id"], v["status"]) for v in listed] == [(created["volume"]["id"], "error")]


def test_unreachable_orchestrator_is_503_and_the_row_is_error(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    launcher.fail_with = "connection refused"
    response = client.post(BACKUPS, json={"backup": {"volume_id": volume.id}}, headers=headers())
    assert response.status_code == 503
    fault = response.json()["serviceUnavailable"]
    assert fault["code"] == 503
    assert "connection refused" not in fault["message"]
    [backup], _ = catalog.list_backups(session=session, project_id=PROJECT)
    assert backup.status == "error"
    assert backup.fail_reason is not None and "create-backup" in backup.fail_reason
    assert backup.flow_run_id is None
    session.refresh(volume)
    assert volume.status == "available"


def test_unreachable_orchestrator_on_volume_delete(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    launcher.fail_with = "connection refused"
    response = client.delete(f"{VOLUMES}/{volume.id}", headers=headers())
    assert response.status_code == 503
    session.refresh(volume)
    assert volume.status == "error_deleting"
    launcher.fail_with = None
    assert client.delete(f"{VOLUMES}/{volume.id}", headers=headers()).status_code == 202
