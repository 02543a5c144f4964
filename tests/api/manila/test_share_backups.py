"""Share backups: create, list, detail, show, update, delete, and the 2.80 experimental gate."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage.catalog import ShareBackupStatus, ShareStatus
from storage.settings import Settings

from .helpers import (
    BACKUPS,
    MISSING,
    OTHER_PROJECT,
    PROJECT,
    admin,
    backup_row,
    headers,
    make_backup,
    make_share,
    share_row,
)


def _create(client: TestClient, share_id: str, **fields: Any) -> Any:
    body = {"share_backup": {"share_id": share_id, "backup_options": None, **fields}}
    return client.post(BACKUPS, json=body, headers=headers())


@pytest.mark.parametrize(
    ("mv", "experimental"), [("2.79", True), ("2.0", True), ("2.80", False), (None, False)]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", BACKUPS),
        ("GET", f"{BACKUPS}/detail"),
        ("GET", f"{BACKUPS}/{MISSING}"),
        ("POST", BACKUPS),
        ("PUT", f"{BACKUPS}/{MISSING}"),
        ("DELETE", f"{BACKUPS}/{MISSING}"),
        ("POST", f"{BACKUPS}/{MISSING}/action"),
        ("GET", f"/v2/{PROJECT}/share-backups"),
    ],
)
def test_routes_exist_only_from_2_80_as_experimental(
    client: TestClient, mv: str | None, experimental: bool, method: str, path: str
) -> None:
    response = client.request(
        method, path, json={"restore": None}, headers=headers(mv=mv, experimental=experimental)
    )
    assert response.status_code == 404
    assert response.json() == {
        "itemNotFound": {"code": 404, "message": "The resource could not be found."}
    }


@pytest.mark.parametrize("flag", ["true", "True", "1", "yes"])
def test_the_experimental_flag_is_read_as_oslo_does(client: TestClient, flag: str) -> None:
    sent = {**headers(experimental=False), "X-OpenStack-Manila-API-Experimental": flag}
    assert client.get(BACKUPS, headers=sent).status_code == 200


def test_create_holds_the_share_and_launches_create_share_backup(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings, size=3)
    response = _create(client, share.id, name="b1", description="first")
    assert response.status_code == 202, response.text
    backup = response.json()["share_backup"]
    assert (backup["status"], backup["share_id"], backup["size"]) == ("creating", share.id, 3)
    assert (backup["name"], backup["description"]) == ("b1", "first")
    assert (backup["progress"], backup["restore_progress"]) == ("0", "0")
    assert "host" not in backup and "topic" not in backup and "backup_type" not in backup
    assert share_row(session, share.id).status == ShareStatus.BACKUP_CREATING
    [run] = launcher.submissions
    assert run.deployment == "create-share-backup/safehold"
    assert run.parameters == {"backup_id": backup["id"]}
    assert backup_row(session, backup["id"]).flow_run_id == run.flow_run_id


def test_backups_are_incremental_unless_a_full_one_is_asked_for(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    base = make_backup(session, share)
    incremental = _create(client, share.id).json()["share_backup"]
    assert backup_row(session, incremental["id"]).parent_id == base.id
    client.post(
        f"{BACKUPS}/{incremental['id']}/action",
        json={"reset_status": {"status": "error"}},
        headers=admin(),
    )
    full = _create(client, share.id, backup_options={"full": "true"})
    assert full.status_code == 202
    row = backup_row(session, full.json()["share_backup"]["id"])
    assert row.parent_id is None and row.options == {"full": "true"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"share_backup": None}, 422),
        ({"share_backup": "x"}, 422),
        ({"backup": {"share_id": MISSING}}, 422),
        ({"share_backup": {}}, 400),
        ({"share_backup": {"share_id": MISSING}}, 400),
        ({"share_backup": {"share_id": "SHARE", "name": "n" * 256}}, 400),
        ({"share_backup": {"share_id": "SHARE", "backup_options": "full"}}, 400),
    ],
)
def test_create_refuses_bad_bodies(
    client: TestClient,
    launcher: RecordingLauncher,
    session: Session,
    settings: Settings,
    body: dict[str, Any],
    status: int,
) -> None:
    share = make_share(session, settings)
    inner = body.get("share_backup")
    if isinstance(inner, dict) and inner.get("share_id") == "SHARE":
        inner["share_id"] = share.id
    response = client.post(BACKUPS, json=body, headers=headers())
    assert response.status_code == status, response.text
    [fault] = response.json().values()
    assert fault["code"] == status
    assert launcher.submissions == []
    assert share_row(session, share.id).status == ShareStatus.AVAILABLE


def test_create_of_a_missing_or_foreign_share_is_400(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_share(session, settings, project=OTHER_PROJECT)
    for share_id in (MISSING, theirs.id):
        response = _create(client, share_id)
        assert response.status_code == 400
        assert response.json()["badRequest"]["message"] == f"No share exists with ID {share_id}."


def test_an_admin_backs_up_another_projects_share_into_that_project(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_share(session, settings, project=OTHER_PROJECT)
    body = {"share_backup": {"share_id": theirs.id}}
    response = client.post(BACKUPS, json=body, headers=admin())
    assert response.status_code == 202
    assert backup_row(session, response.json()["share_backup"]["id"]).project_id == OTHER_PROJECT


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (ShareStatus.BACKUP_CREATING, 409),
        (ShareStatus.BACKUP_RESTORING, 409),
        (ShareStatus.CREATING, 400),
        (ShareStatus.ERROR, 400),
        (ShareStatus.BACKUP_RESTORING_ERROR, 400),
    ],
)
def test_create_needs_an_available_share(
    client: TestClient,
    launcher: RecordingLauncher,
    session: Session,
    settings: Settings,
    status: str,
    code: int,
) -> None:
    share = make_share(session, settings, status=status)
    response = _create(client, share.id)
    assert response.status_code == code
    assert set(response.json()) == {"conflictingRequest" if code == 409 else "badRequest"}
    assert share_row(session, share.id).status == status
    assert launcher.submissions == []


def test_list_is_a_summary_of_the_projects_backups(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings))
    make_backup(session, make_share(session, settings, project=OTHER_PROJECT))
    response = client.get(BACKUPS, headers=headers())
    assert response.json() == {
        "share_backups": [
            {"id": backup.id, "name": "nightly", "share_id": backup.share_id, "status": "available"}
        ]
    }
    in_project = client.get(f"/v2/{PROJECT}/share-backups", headers=headers())
    assert in_project.json() == response.json()


def test_detail_filters_sorts_and_pages(
    client: TestClient, session: Session, settings: Settings
) -> None:
    first, second = make_share(session, settings), make_share(session, settings)
    a = make_backup(session, first, name="alpha")
    b = make_backup(session, second, name="beta")
    c = make_backup(session, first, name="gamma")
    client.put(
        f"{BACKUPS}/{c.id}", json={"share_backup": {"description": "Weekly"}}, headers=headers()
    )

    def ids(query: str, who: dict[str, str] | None = None) -> list[str]:
        response = client.get(f"{BACKUPS}/detail?{query}", headers=who or headers())
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["share_backups"]]

    assert ids("") == [c.id, b.id, a.id]
    assert ids(f"share_id={first.id}") == [c.id, a.id]
    assert ids("name=beta") == [b.id]
    assert ids("name~=AM") == [c.id]
    assert ids("description~=week") == [c.id]
    assert ids("description=Weekly") == [c.id]
    assert ids("status=available&topic=manila-data") == [c.id, b.id, a.id]
    assert ids("sort_key=name&sort_dir=asc") == [a.id, b.id, c.id]
    assert ids("sort_key=display_name&sort_dir=desc&limit=2") == [c.id, b.id]
    assert ids("sort_key=name&sort_dir=asc&limit=1&offset=2") == [c.id]
    assert ids("host=elsewhere") == [c.id, b.id, a.id]  # a user's host filter is dropped
    assert ids("host=elsewhere", admin()) == []
    assert ids("host=safehold@tree%23default", admin()) == [c.id, b.id, a.id]


def test_detail_shows_host_and_topic_to_admins_and_backup_type_from_2_85(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_backup(session, make_share(session, settings))
    [item] = client.get(f"{BACKUPS}/detail", headers=admin()).json()["share_backups"]
    assert (item["host"], item["topic"]) == ("safehold@tree#default", "manila-data")
    assert "backup_type" not in item
    [new] = client.get(f"{BACKUPS}/detail", headers=headers(mv="2.85")).json()["share_backups"]
    assert new["backup_type"] == "backup" and "host" not in new


def test_listing_by_an_unknown_share_is_400(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_share(session, settings, project=OTHER_PROJECT)
    for share_id in (MISSING, theirs.id):
        response = client.get(f"{BACKUPS}?share_id={share_id}", headers=headers())
        assert response.status_code == 400
        assert response.json()["badRequest"]["message"] == f"No share exists with ID {share_id}."


@pytest.mark.parametrize("query", ["limit=-1", "offset=x", "sort_key=bogus", "sort_dir=up"])
def test_bad_list_parameters_are_400(client: TestClient, query: str) -> None:
    assert client.get(f"{BACKUPS}/detail?{query}", headers=headers()).status_code == 400


@pytest.mark.parametrize("switch", ["all_tenants", "all_projects"])
def test_all_tenants_is_for_admins(
    client: TestClient, session: Session, settings: Settings, switch: str
) -> None:
    make_backup(session, make_share(session, settings))
    make_backup(session, make_share(session, settings, project=OTHER_PROJECT))
    assert len(client.get(f"{BACKUPS}?{switch}=1", headers=admin()).json()["share_backups"]) == 2
    assert len(client.get(BACKUPS, headers=admin()).json()["share_backups"]) == 1
    refused = client.get(f"{BACKUPS}/detail?{switch}=true", headers=headers())
    assert refused.status_code == 403
    assert refused.json()["forbidden"]["message"] == (
        "Policy doesn't allow share_backup:get_all_project to be performed."
    )
    assert client.get(f"{BACKUPS}?{switch}=0", headers=headers()).status_code == 200


def test_show_of_another_projects_backup_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_backup(session, make_share(session, settings, project=OTHER_PROJECT))
    response = client.get(f"{BACKUPS}/{theirs.id}", headers=headers())
    assert response.status_code == 404
    assert response.json()["itemNotFound"]["message"] == f"No backup exists with ID {theirs.id}."
    assert client.get(f"{BACKUPS}/{theirs.id}", headers=admin()).status_code == 200


def test_update_takes_name_and_description_in_either_spelling(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings))
    url = f"{BACKUPS}/{backup.id}"
    body = {"share_backup": {"display_name": "n1", "display_description": "d1"}}
    first = client.put(url, json=body, headers=headers()).json()["share_backup"]
    assert (first["name"], first["description"]) == ("n1", "d1")
    second = client.put(url, json={"share_backup": {"name": "n2"}}, headers=headers())
    assert second.status_code == 200
    assert (
        second.json()["share_backup"]["name"],
        second.json()["share_backup"]["description"],
    ) == (
        "n2",
        "d1",
    )
    assert second.json()["share_backup"]["updated_at"] is not None
    assert client.put(url, json={"name": "x"}, headers=headers()).status_code == 422
    too_long = {"share_backup": {"name": "x" * 256}}
    assert client.put(url, json=too_long, headers=headers()).status_code == 400


def test_update_of_another_projects_backup_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_backup(session, make_share(session, settings, project=OTHER_PROJECT))
    body = {"share_backup": {"name": "mine"}}
    assert client.put(f"{BACKUPS}/{theirs.id}", json=body, headers=headers()).status_code == 404


def test_delete_launches_delete_share_backup(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings))
    response = client.delete(f"{BACKUPS}/{backup.id}", headers=headers())
    assert response.status_code == 202 and response.content == b""
    assert backup_row(session, backup.id).status == ShareBackupStatus.DELETING
    [run] = launcher.submissions
    assert (run.deployment, run.parameters) == (
        "delete-share-backup/safehold",
        {"backup_id": backup.id},
    )


def test_delete_needs_available_or_error(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings), finish=False)
    response = client.delete(f"{BACKUPS}/{backup.id}", headers=headers())
    assert response.status_code == 400
    assert backup_row(session, backup.id).status == ShareBackupStatus.CREATING
    assert launcher.submissions == []
    theirs = make_backup(session, make_share(session, settings, project=OTHER_PROJECT))
    assert client.delete(f"{BACKUPS}/{theirs.id}", headers=headers()).status_code == 404


def test_a_backup_whose_run_crashed_is_repaired_on_read(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = _create(client, share.id).json()["share_backup"]
    [run] = launcher.submissions
    launcher.set_state(run.flow_run_id, "CRASHED", "worker lost")
    shown = client.get(f"{BACKUPS}/{backup['id']}", headers=headers()).json()["share_backup"]
    assert shown["status"] == "error"
    assert share_row(session, share.id).status == ShareStatus.AVAILABLE


def test_a_share_held_by_a_vanished_backup_run_is_released_on_read(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = _create(client, share.id).json()["share_backup"]
    [run] = launcher.submissions
    launcher.forget(run.flow_run_id)
    shown = client.get(f"/v2/shares/{share.id}", headers=headers()).json()["share"]
    assert shown["status"] == "available"
    assert backup_row(session, backup["id"]).status == ShareBackupStatus.ERROR
