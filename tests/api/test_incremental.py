"""Incremental backups and the cascade-delete extension through the Cinder v3 routes."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.catalog import Backup, Volume
from storage.settings import Settings

from .helpers import OTHER_PROJECT, PROJECT, USER, catalog_rows, headers, make_volume

BACKUPS = f"/v3/{PROJECT}/backups"


def _create(client: TestClient, volume_id: str, **extra: Any) -> Any:
    return client.post(
        BACKUPS, json={"backup": {"volume_id": volume_id, **extra}}, headers=headers()
    )


def _committed(client: TestClient, session: Session, volume: Volume, **extra: Any) -> str:
    """A backup created through the API and finished as the create-backup flow would."""
    response = _create(client, volume.id, **extra)
    assert response.status_code == 202, response.text
    backup_id = str(response.json()["backup"]["id"])
    session.expire_all()  # the API changed the rows through its own session
    assert catalog.finish_backup(
        session=session, backup_id=backup_id, object_count=2, stored_bytes=9
    )
    return backup_id


def _show(client: TestClient, backup_id: str) -> dict[str, Any]:
    response = client.get(f"{BACKUPS}/{backup_id}", headers=headers())
    assert response.status_code == 200, response.text
    return dict(response.json()["backup"])


def _status(session: Session, backup_id: str) -> str | None:
    session.expire_all()
    row = session.get(Backup, backup_id)
    return None if row is None else row.status


def _chain(client: TestClient, session: Session, settings: Settings) -> list[str]:
    """full <- inc1 <- inc2, all available."""
    volume = make_volume(session, settings.volumes_dir)
    full = _committed(client, session, volume)
    inc1 = _committed(client, session, volume, incremental=True)
    inc2 = _committed(client, session, volume, incremental=True)
    return [full, inc1, inc2]


def test_incremental_create_names_the_latest_backup_as_parent(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    full, inc1, inc2 = _chain(client, session, settings)
    assert [catalog.get_backup(session=session, backup_id=b).parent_id for b in (inc1, inc2)] == [
        full,
        inc1,
    ]
    shown = {b: _show(client, b) for b in (full, inc1, inc2)}
    assert [(s["is_incremental"], s["has_dependent_backups"]) for s in shown.values()] == [
        (False, True),
        (True, True),
        (True, False),
    ]
    sub = launcher.submissions[-1]
    assert (sub.deployment, sub.parameters) == ("create-backup/safehold", {"backup_id": inc2})


def test_incremental_without_an_available_backup_is_400(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    other = make_volume(session, settings.volumes_dir)
    _committed(client, session, other)  # another volume's backup is no parent
    before = catalog_rows(app.state.engine)
    response = _create(client, volume.id, incremental=True)
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == (
        "Invalid backup: No backups available to do an incremental backup."
    )
    assert catalog_rows(app.state.engine) == before


def test_concurrent_incrementals_of_one_volume_one_202_one_400(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    full = _committed(client, session, volume)
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def create() -> None:
        barrier.wait()
        codes.append(_create(client, volume.id, incremental=True).status_code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(codes) == [202, 400]
    rows, total = catalog.list_backups(session=session, project_id=PROJECT)
    assert total == 2
    child = next(r for r in rows if r.id != full)
    assert child.parent_id == full
    assert catalog.get_backup(session=session, backup_id=full).num_dependent_backups == 1
    assert len(launcher.submissions) == 2


def test_deleting_a_parent_is_400_and_changes_nothing(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    full, inc1, _ = _chain(client, session, settings)
    before = catalog_rows(app.state.engine)
    for backup_id in (full, inc1):
        response = client.delete(f"{BACKUPS}/{backup_id}", headers=headers())
        assert response.status_code == 400
        assert response.json()["badRequest"]["message"] == (
            "Invalid backup: Incremental backups exist for this backup."
        )
    assert catalog_rows(app.state.engine) == before


def test_cascade_marks_the_tree_and_starts_one_tree_run(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    full, inc1, inc2 = _chain(client, session, settings)
    response = client.delete(f"{BACKUPS}/{full}?cascade=true", headers=headers())
    assert response.status_code == 202 and response.content == b""
    sub = launcher.submissions[-1]
    assert sub.deployment == "delete-backup-tree/safehold"
    assert sub.parameters == {"backup_id": full, "backup_ids": [inc2, inc1, full]}
    assert sub.run_name == "delete-backup-tree vol cascade of 3"
    rows = [catalog.get_backup(session=session, backup_id=b) for b in (full, inc1, inc2)]
    assert {(r.status, r.flow_run_id) for r in rows} == {("deleting", sub.flow_run_id)}
    # A second cascade while the first runs is refused.
    again = client.delete(f"{BACKUPS}/{full}?cascade=True", headers=headers())
    assert again.status_code == 400
    assert len(launcher.submissions) == 4


def test_cascade_of_a_middle_backup_leaves_its_ancestors(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    full, inc1, inc2 = _chain(client, session, settings)
    assert client.delete(f"{BACKUPS}/{inc1}?cascade=1", headers=headers()).status_code == 202
    assert launcher.submissions[-1].parameters["backup_ids"] == [inc2, inc1]
    assert _status(session, full) == "available"


def test_cascade_with_a_busy_member_is_400_and_changes_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
) -> None:
    full, inc1, inc2 = _chain(client, session, settings)
    restore = client.post(f"{BACKUPS}/{inc2}/restore", json={"restore": None}, headers=headers())
    assert restore.status_code == 202
    submitted = len(launcher.submissions)
    before = catalog_rows(app.state.engine)
    response = client.delete(f"{BACKUPS}/{full}?cascade=true", headers=headers())
    assert response.status_code == 400
    assert inc2 in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before
    assert len(launcher.submissions) == submitted


def test_cascade_of_another_projects_backup_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    full, _, _ = _chain(client, session, settings)
    other = {"X-Auth-Token": f"{USER}:{OTHER_PROJECT}"}
    response = client.delete(f"/v3/{OTHER_PROJECT}/backups/{full}?cascade=true", headers=other)
    assert response.status_code == 404
    assert _status(session, full) == "available"


def test_cascade_that_cannot_start_leaves_every_member_error_deleting(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    chain = _chain(client, session, settings)
    launcher.fail_with = "prefect down"
    response = client.delete(f"{BACKUPS}/{chain[0]}?cascade=true", headers=headers())
    assert response.status_code == 503
    assert [_status(session, b) for b in chain] == ["error_deleting"] * 3


def test_interrupted_cascade_resumes_with_a_plain_delete(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    full, inc1, inc2 = _chain(client, session, settings)
    assert client.delete(f"{BACKUPS}/{full}?cascade=true", headers=headers()).status_code == 202
    first = launcher.submissions[-1]
    # The run deleted the leaf, then crashed without its hooks running.
    catalog.finish_backup_delete(session=session, backup_id=inc2)
    launcher.set_state(first.flow_run_id, "CRASHED", "worker lost")
    response = client.delete(f"{BACKUPS}/{full}", headers=headers())
    assert response.status_code == 202, response.text
    second = launcher.submissions[-1]
    assert second.flow_run_id != first.flow_run_id
    assert (second.deployment, second.parameters["backup_ids"]) == (
        "delete-backup-tree/safehold",
        [inc1, full],
    )
    assert [_status(session, b) for b in (inc1, full)] == ["deleting", "deleting"]


def test_plain_delete_of_an_error_deleting_leaf_stays_plain(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    _, _, inc2 = _chain(client, session, settings)
    assert client.delete(f"{BACKUPS}/{inc2}", headers=headers()).status_code == 202
    catalog.fail_operation(session=session, backup_id=inc2, reason="store down")
    assert client.delete(f"{BACKUPS}/{inc2}", headers=headers()).status_code == 202
    assert launcher.submissions[-1].deployment == "delete-backup/safehold"
