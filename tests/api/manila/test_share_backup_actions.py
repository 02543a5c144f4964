"""`POST /share-backups/{id}/action`: restore (into the source share; another from 2.91)
and reset_status (admin)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage.catalog import ShareBackupStatus, ShareStatus, shares
from storage.settings import Settings

from .helpers import (
    BACKUPS,
    MISSING,
    OTHER_PROJECT,
    admin,
    backup_row,
    headers,
    make_backup,
    make_share,
    share_row,
)


def _act(client: TestClient, backup_id: str, body: Any, **kw: Any) -> Any:
    return client.post(f"{BACKUPS}/{backup_id}/action", json=body, headers=headers(**kw))


def test_restore_into_the_source_share(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = make_backup(session, share)
    response = _act(client, backup.id, {"restore": None})
    assert response.status_code == 202
    assert response.json() == {"restore": {"backup_id": backup.id, "share_id": share.id}}
    assert backup_row(session, backup.id).status == ShareBackupStatus.RESTORING
    assert share_row(session, share.id).status == ShareStatus.BACKUP_RESTORING
    [run] = launcher.submissions
    assert run.deployment == "restore-share-backup/safehold"
    assert run.parameters == {"backup_id": backup.id, "share_id": share.id}
    assert backup_row(session, backup.id).flow_run_id == run.flow_run_id


@pytest.mark.parametrize("form", ["string", "object"])
def test_restore_into_another_share_from_2_91(
    client: TestClient,
    launcher: RecordingLauncher,
    session: Session,
    settings: Settings,
    form: str,
) -> None:
    source = make_share(session, settings)
    target = make_share(session, settings, size=5)
    backup = make_backup(session, source)
    value: Any = target.id if form == "string" else {"target_share_id": target.id}
    response = _act(client, backup.id, {"restore": value}, mv="2.91")
    assert response.status_code == 202
    assert response.json() == {"restore": {"backup_id": backup.id, "share_id": target.id}}
    assert share_row(session, target.id).status == ShareStatus.BACKUP_RESTORING
    assert share_row(session, source.id).status == ShareStatus.AVAILABLE
    [run] = launcher.submissions
    assert run.parameters == {"backup_id": backup.id, "share_id": target.id}


@pytest.mark.parametrize("mv", ["2.80", "2.90"])
def test_a_restore_target_below_2_91_is_400(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings, mv: str
) -> None:
    target = make_share(session, settings)
    backup = make_backup(session, make_share(session, settings))
    response = _act(client, backup.id, {"restore": target.id}, mv=mv)
    assert response.status_code == 400
    assert "2.91" in response.json()["badRequest"]["message"]
    assert launcher.submissions == []
    assert backup_row(session, backup.id).status == ShareBackupStatus.AVAILABLE


def test_restore_onto_a_smaller_share_is_400_and_changes_nothing(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    small = make_share(session, settings, size=1)
    backup = make_backup(session, make_share(session, settings, size=3))
    response = _act(client, backup.id, {"restore": small.id}, mv="2.91")
    assert response.status_code == 400
    assert "smaller" in response.json()["badRequest"]["message"]
    assert share_row(session, small.id).status == ShareStatus.AVAILABLE
    assert backup_row(session, backup.id).status == ShareBackupStatus.AVAILABLE
    assert launcher.submissions == []


@pytest.mark.parametrize(
    "status", [ShareStatus.BACKUP_CREATING, ShareStatus.BACKUP_RESTORING, ShareStatus.ERROR]
)
def test_restore_needs_an_available_target(
    client: TestClient, session: Session, settings: Settings, status: str
) -> None:
    target = make_share(session, settings, status=status)
    backup = make_backup(session, make_share(session, settings))
    response = _act(client, backup.id, {"restore": target.id}, mv="2.91")
    assert response.status_code == 400
    assert share_row(session, target.id).status == status


def test_restore_retries_onto_a_share_a_failed_restore_left(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = make_backup(session, share)
    shares.reset_share_status(
        session=session, share_id=share.id, status=ShareStatus.BACKUP_RESTORING_ERROR
    )
    assert _act(client, backup.id, {"restore": None}).status_code == 202
    assert share_row(session, share.id).status == ShareStatus.BACKUP_RESTORING


def test_restore_needs_an_available_backup(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings), finish=False)
    response = _act(client, backup.id, {"restore": None})
    assert response.status_code == 400
    assert backup_row(session, backup.id).status == ShareBackupStatus.CREATING


def test_restore_of_unknown_or_foreign_backups_and_targets_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_backup(session, make_share(session, settings, project=OTHER_PROJECT))
    assert _act(client, theirs.id, {"restore": None}).status_code == 404
    assert _act(client, MISSING, {"restore": None}).status_code == 404
    mine = make_backup(session, make_share(session, settings))
    foreign_share = make_share(session, settings, project=OTHER_PROJECT)
    for target in (MISSING, foreign_share.id):
        response = _act(client, mine.id, {"restore": target}, mv="2.91")
        assert response.status_code == 404
        assert set(response.json()) == {"itemNotFound"}


def test_restore_of_a_backup_whose_share_is_gone_needs_a_target(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = make_backup(session, share)
    assert client.delete(f"/v2/shares/{share.id}", headers=headers()).status_code == 202
    shares.delete_share_row(session=session, share_id=share.id)
    assert _act(client, backup.id, {"restore": None}).status_code == 404
    target = make_share(session, settings)
    assert _act(client, backup.id, {"restore": target.id}, mv="2.91").status_code == 202


@pytest.mark.parametrize("value", [5, ["x"], {"target_share_id": 5}])
def test_restore_values_of_the_wrong_kind_are_400(
    client: TestClient, session: Session, settings: Settings, value: Any
) -> None:
    backup = make_backup(session, make_share(session, settings))
    assert _act(client, backup.id, {"restore": value}, mv="2.91").status_code == 400


def test_reset_status_is_admin_only_and_checks_the_status(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings))
    body = {"reset_status": {"status": "error"}}
    refused = _act(client, backup.id, body)
    assert refused.status_code == 403
    assert refused.json()["forbidden"]["message"] == (
        "Policy doesn't allow share_backup:reset_status to be performed."
    )
    bad = client.post(
        f"{BACKUPS}/{backup.id}/action", json={"reset_status": {"status": "x"}}, headers=admin()
    )
    assert bad.status_code == 400
    done = client.post(f"{BACKUPS}/{backup.id}/action", json=body, headers=admin())
    assert done.status_code == 202 and done.content == b""
    assert backup_row(session, backup.id).status == "error"
    missing = client.post(f"{BACKUPS}/{MISSING}/action", json=body, headers=admin())
    assert missing.status_code == 404


def test_resetting_a_backup_being_created_cancels_its_run_and_frees_the_share(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    body = {"share_backup": {"share_id": share.id}}
    created = client.post(BACKUPS, json=body, headers=headers()).json()["share_backup"]
    [run] = launcher.submissions
    response = client.post(
        f"{BACKUPS}/{created['id']}/action",
        json={"reset_status": {"status": "error"}},
        headers=admin(),
    )
    assert response.status_code == 202
    assert [run_id for run_id, _ in launcher.cancelled] == [run.flow_run_id]
    assert share_row(session, share.id).status == ShareStatus.AVAILABLE


def test_resetting_a_restore_marks_the_target_share_restoring_error(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = make_backup(session, share)
    assert _act(client, backup.id, {"restore": None}).status_code == 202
    body = {"reset_status": {"status": "available"}}
    assert (
        client.post(f"{BACKUPS}/{backup.id}/action", json=body, headers=admin()).status_code == 202
    )
    assert share_row(session, share.id).status == ShareStatus.BACKUP_RESTORING_ERROR


def test_unknown_actions_and_several_actions_are_400(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings))
    assert _act(client, backup.id, {"force_delete": None}).status_code == 400
    assert _act(client, backup.id, {"restore": None, "reset_status": {}}).status_code == 400
