"""GET /v1/{project}/backups/{id}/progress: bytes moved, settled like show."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.catalog import Backup
from storage.settings import Settings

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, USER, headers, make_volume

GIB = 1024**3


def _url(backup_id: str, project: str = PROJECT) -> str:
    return f"/v1/{project}/backups/{backup_id}/progress"


def _creating_backup(client: TestClient, session: Session, settings: Settings) -> str:
    vol = make_volume(session, settings.volumes_dir)
    resp = client.post(
        f"/v3/{PROJECT}/backups", json={"backup": {"volume_id": vol.id}}, headers=headers()
    )
    assert resp.status_code == 202
    return str(resp.json()["backup"]["id"])


def test_progress_follows_the_data(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup_id = _creating_backup(client, session, settings)
    body = client.get(_url(backup_id), headers=headers()).json()["progress"]
    assert body["status"] == "creating" and body["operation"] == "backup"
    assert (body["bytes_done"], body["bytes_total"], body["percent"]) == (0, GIB, 0.0)

    catalog.update_progress(
        session=session, model=Backup, record_id=backup_id, done=GIB // 4, total=GIB
    )
    body = client.get(_url(backup_id), headers=headers()).json()["progress"]
    assert (body["bytes_done"], body["percent"]) == (GIB // 4, 25.0)

    catalog.finish_backup(session=session, backup_id=backup_id, object_count=2, stored_bytes=9)
    body = client.get(_url(backup_id), headers=headers()).json()["progress"]
    assert (body["status"], body["operation"], body["percent"]) == ("available", None, 100.0)


def test_restore_progress_starts_from_zero(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup_id = _creating_backup(client, session, settings)
    catalog.finish_backup(session=session, backup_id=backup_id, object_count=2, stored_bytes=9)
    resp = client.post(
        f"/v3/{PROJECT}/backups/{backup_id}/restore", json={"restore": {}}, headers=headers()
    )
    assert resp.status_code == 202
    body = client.get(_url(backup_id), headers=headers()).json()["progress"]
    assert (body["operation"], body["bytes_done"], body["bytes_total"]) == ("restore", 0, GIB)


def test_crashed_run_is_settled_and_explained(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    backup_id = _creating_backup(client, session, settings)
    run_id = launcher.submissions[-1].flow_run_id
    launcher.set_state(run_id, "CRASHED", "worker killed")
    body = client.get(_url(backup_id), headers=headers()).json()["progress"]
    assert body["status"] == "error"
    # The owner reads a stable reason; an admin reads Prefect's message too.
    assert (
        body["fail_reason"]
        == f"flow run {run_id} crashed: the process running the operation stopped"
    )
    admin = client.get(_url(backup_id), headers=headers(ADMIN)).json()["progress"]
    assert admin["fail_reason"] == f"flow run {run_id} crashed: worker killed"


def test_other_project_is_404(client: TestClient, session: Session, settings: Settings) -> None:
    backup_id = _creating_backup(client, session, settings)
    resp = client.get(_url(backup_id, OTHER_PROJECT), headers=headers(USER, OTHER_PROJECT))
    assert resp.status_code == 404 and "itemNotFound" in resp.json()
