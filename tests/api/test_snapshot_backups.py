"""Backups of snapshots via HTTP: the snapshot is held, the volume untouched."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.settings import Settings

from .helpers import (
    BACKUPS,
    MISSING,
    OTHER_PROJECT,
    PROJECT,
    SNAPSHOTS,
    VOLUMES,
    every_row,
    headers,
    make_snapshot,
    make_volume,
    snapshot_row,
)

# -- backups of snapshots (of in-use volumes: tests/api/test_attachments.py) -------------


def test_backup_of_a_snapshot(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    snap = make_snapshot(session, volume)
    body = {"backup": {"volume_id": volume.id, "snapshot_id": snap.id}}
    response = client.post(BACKUPS, json=body, headers=headers())
    assert response.status_code == 202, response.text
    backup_id = response.json()["backup"]["id"]
    shown = client.get(f"{BACKUPS}/{backup_id}", headers=headers()).json()["backup"]
    snapshot_view = client.get(f"{SNAPSHOTS}/{snap.id}", headers=headers()).json()["snapshot"]
    assert shown["snapshot_id"] == snap.id
    assert shown["data_timestamp"] == snapshot_view["created_at"]
    assert snapshot_view["status"] == "backing-up"
    assert client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]["status"] == (
        "available"
    )
    # The snapshot's backup run failing gives the snapshot back.
    launcher.set_state(launcher.submissions[-1].flow_run_id, "FAILED", "boom")
    client.get(f"{BACKUPS}/{backup_id}", headers=headers())
    assert snapshot_row(app.state.engine, snap.id).status == "available"


@pytest.mark.parametrize("case", ["other-volume", "not-available", "missing", "other-project"])
def test_bad_backup_of_a_snapshot_changes_nothing(
    client: TestClient, app: FastAPI, session: Session, settings: Settings, case: str
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    owner = OTHER_PROJECT if case == "other-project" else PROJECT
    source = make_volume(session, settings.volumes_dir, project=owner)
    of_volume = case in ("not-available", "missing")
    snap = make_snapshot(session, volume if of_volume else source, project=owner)
    if case == "not-available":
        catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status="creating")
    snapshot_id = MISSING if case == "missing" else snap.id
    body = {"backup": {"volume_id": volume.id, "snapshot_id": snapshot_id}}
    before = every_row(app.state.engine)
    response = client.post(BACKUPS, json=body, headers=headers())
    expected = {"other-volume": 400, "not-available": 400, "missing": 404, "other-project": 404}
    assert response.status_code == expected[case], response.text
    assert every_row(app.state.engine) == before


# -- restores onto a volume a snapshot is being made of ----------------------------------


def test_restore_onto_a_volume_being_snapshotted_is_400(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    target = make_volume(session, settings.volumes_dir)
    source = make_volume(session, settings.volumes_dir)
    backup = catalog.begin_backup(
        session=session, project_id=PROJECT, user_id="alice", volume_id=source.id
    )
    catalog.finish_backup(session=session, backup_id=backup.id, object_count=1, stored_bytes=1)
    created = client.post(SNAPSHOTS, json={"snapshot": {"volume_id": target.id}}, headers=headers())
    snapshot_id = created.json()["snapshot"]["id"]
    before = every_row(app.state.engine)
    restore = {"restore": {"volume_id": target.id}}
    response = client.post(f"{BACKUPS}/{backup.id}/restore", json=restore, headers=headers())
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == (
        f"Invalid volume: a snapshot of volume {target.id} is being created; "
        "restore to it when the snapshot is available."
    )
    assert every_row(app.state.engine) == before
    # Once the copy is made, the restore goes ahead; and a snapshot of the target being
    # restored is refused in turn.
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot_id)
    response = client.post(f"{BACKUPS}/{backup.id}/restore", json=restore, headers=headers())
    assert response.status_code == 202, response.text
    again = client.post(SNAPSHOTS, json={"snapshot": {"volume_id": target.id}}, headers=headers())
    assert again.status_code == 400
    assert "status must be available" in again.json()["badRequest"]["message"]
