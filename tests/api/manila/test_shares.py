"""Manila shares: create, list, detail, show, update, delete, metadata, and their views."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage.catalog import ShareStatus
from storage.settings import Settings

from .helpers import (
    ADMIN,
    MISSING,
    OTHER_PROJECT,
    PROJECT,
    SHARES,
    admin,
    headers,
    make_backup,
    make_share,
    share_row,
)


def _create(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"share": {"share_proto": "NFS", "size": 1, **fields}}
    response = client.post(SHARES, json=body, headers=headers())
    assert response.status_code == 200, response.text
    share: dict[str, Any] = response.json()["share"]
    return share


def test_create_answers_200_in_creating_and_launches_create_share(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = _create(
        client, name="data", description="words", metadata={"k": "v"}, share_proto="nfs"
    )
    assert (share["status"], share["name"], share["description"]) == ("creating", "data", "words")
    assert (share["share_proto"], share["size"], share["metadata"]) == ("NFS", 1, {"k": "v"})
    assert share["project_id"] == PROJECT and share["user_id"] == "alice"
    [run] = launcher.submissions
    assert run.deployment == "create-share/safehold"
    assert run.parameters == {"share_id": share["id"]}
    row = share_row(session, share["id"])
    assert row.path == str(settings.shares_dir / share["id"]) and not row.managed
    assert row.flow_run_id == run.flow_run_id


def test_python_manilaclient_create_body_with_its_nulls_is_accepted(client: TestClient) -> None:
    body: dict[str, Any] = {
        "share": {
            "size": 1,
            "snapshot_id": None,
            "name": None,
            "description": None,
            "metadata": {},
            "share_proto": "NFS",
            "share_network_id": None,
            "share_type": None,
            "is_public": False,
            "availability_zone": None,
            "scheduler_hints": {},
        }
    }
    assert client.post(SHARES, json=body, headers=headers()).status_code == 200


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"size": 0}, 400),
        ({"size": "big"}, 400),
        ({"share_proto": "FTP"}, 400),
        ({"snapshot_id": MISSING}, 400),
        ({"share_network_id": MISSING}, 400),
        ({"share_type": "gold"}, 404),
        ({"name": "x" * 256}, 400),
        ({"metadata": {"k": 1}}, 400),
    ],
)
def test_create_refuses_bad_input(
    client: TestClient, launcher: RecordingLauncher, fields: dict[str, Any], status: int
) -> None:
    body = {"share": {"share_proto": "NFS", "size": 1, **fields}}
    response = client.post(SHARES, json=body, headers=headers())
    assert response.status_code == status, response.text
    name = "badRequest" if status == 400 else "itemNotFound"
    assert set(response.json()) == {name}
    assert launcher.submissions == []


def test_create_without_share_object_is_400(client: TestClient) -> None:
    response = client.post(SHARES, json={"size": 1}, headers=headers())
    assert response.status_code == 400
    assert response.json()["badRequest"]["code"] == 400


def test_the_default_share_type_is_accepted_by_name_or_id(client: TestClient) -> None:
    by_name = _create(client, share_type="default")
    assert by_name["share_type_name"] == "default"
    assert _create(client, share_type=by_name["share_type"])["share_type"] == by_name["share_type"]


def test_list_is_a_summary_with_links_and_only_the_projects_shares(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine = make_share(session, settings, name="mine")
    make_share(session, settings, project=OTHER_PROJECT, name="theirs")
    [item] = client.get(SHARES, headers=headers()).json()["shares"]
    assert set(item) == {"id", "name", "links"}
    assert (item["id"], item["name"]) == (mine.id, "mine")
    assert item["links"] == [
        {"href": f"http://testserver/v2/shares/{mine.id}", "rel": "self"},
        {"href": f"http://testserver/shares/{mine.id}", "rel": "bookmark"},
    ]
    [in_project] = client.get(f"/v2/{PROJECT}/shares", headers=headers()).json()["shares"]
    assert in_project["links"][0]["href"] == f"http://testserver/v2/{PROJECT}/shares/{mine.id}"


def test_detail_filters_sorts_and_pages(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a = make_share(session, settings, name="alpha")
    b = make_share(session, settings, name="beta", status=ShareStatus.ERROR)
    c = make_share(session, settings, name="gamma")

    def ids(query: str) -> list[str]:
        response = client.get(f"{SHARES}/detail?{query}", headers=headers())
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["shares"]]

    assert ids("name=beta") == [b.id]
    assert ids("display_name=beta") == [b.id]
    assert ids("status=error") == [b.id]
    assert ids("name~=MM") == [c.id]
    assert ids("share_proto=NFS&sort_key=name&sort_dir=asc") == [a.id, b.id, c.id]
    assert ids("sort_key=name&sort_dir=desc&limit=2") == [c.id, b.id]
    assert ids("sort_key=name&sort_dir=asc&limit=1&offset=1") == [b.id]
    assert ids("is_public=True&all_tenants=0") == [c.id, b.id, a.id]
    assert ids("unknown_filter=x&name=alpha") == [a.id]


@pytest.mark.parametrize("query", ["limit=-1", "limit=x", "offset=-1", "sort_key=bogus"])
def test_bad_list_parameters_are_400(client: TestClient, query: str) -> None:
    response = client.get(f"{SHARES}/detail?{query}", headers=headers())
    assert response.status_code == 400
    assert response.json()["badRequest"]["code"] == 400


def test_all_tenants_is_for_admins(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_share(session, settings)
    make_share(session, settings, project=OTHER_PROJECT)
    everything = client.get(f"{SHARES}/detail?all_tenants=1", headers=admin())
    assert len(everything.json()["shares"]) == 2
    assert len(client.get(f"{SHARES}/detail", headers=admin()).json()["shares"]) == 1
    refused = client.get(f"{SHARES}?all_tenants=true", headers=headers())
    assert refused.status_code == 403
    assert refused.json()["forbidden"]["code"] == 403


def test_show_of_another_projects_share_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_share(session, settings, project=OTHER_PROJECT)
    response = client.get(f"{SHARES}/{theirs.id}", headers=headers())
    assert response.status_code == 404
    assert set(response.json()) == {"itemNotFound"}
    assert client.get(f"{SHARES}/{theirs.id}", headers=admin()).status_code == 200


def test_fields_follow_the_microversion(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    old = client.get(f"{SHARES}/{share.id}", headers=headers(mv="2.0")).json()["share"]
    assert old["export_location"] is None and old["export_locations"] == []  # not an admin
    assert old["share_type"] == "default" and "share_type_name" not in old
    assert "user_id" not in old and "progress" not in old and "task_state" not in old
    as_admin = client.get(f"{SHARES}/{share.id}", headers=admin(mv="2.8")).json()["share"]
    assert as_admin["export_location"] == share.path
    assert as_admin["export_locations"] == [share.path]
    assert as_admin["host"] == "safehold@tree#default" and as_admin["share_server_id"] is None
    new = client.get(f"{SHARES}/{share.id}", headers=headers(mv="2.80")).json()["share"]
    assert "export_location" not in new and "export_locations" not in new
    assert "host" not in new and "share_server_id" not in new
    assert new["share_type_name"] == "default" and new["share_type"] != "default"
    assert new["progress"] == "100%" and new["access_rules_status"] == "active"
    assert (new["has_replicas"], new["replication_type"], new["task_state"]) == (False, None, None)
    assert new["snapshot_support"] is False and new["mount_snapshot_support"] is False
    assert new["created_at"].count(".") == 1 and not new["created_at"].endswith("Z")
    assert "encryption_key_ref" not in new
    assert (
        "encryption_key_ref"
        in client.get(f"{SHARES}/{share.id}", headers=headers(mv="2.91")).json()["share"]
    )


def test_update_accepts_manila_and_short_names(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings, status=ShareStatus.BACKUP_CREATING)
    body = {"share": {"display_name": "renamed", "display_description": "d", "is_public": True}}
    response = client.put(f"{SHARES}/{share.id}", json=body, headers=headers())
    assert response.status_code == 200
    shown = response.json()["share"]
    assert (shown["name"], shown["description"], shown["is_public"]) == ("renamed", "d", True)
    again = client.put(f"{SHARES}/{share.id}", json={"share": {"name": "n"}}, headers=headers())
    assert again.json()["share"]["name"] == "n" and again.json()["share"]["description"] == "d"
    assert share_row(session, share.id).status == ShareStatus.BACKUP_CREATING


def test_update_of_another_projects_share_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_share(session, settings, project=OTHER_PROJECT)
    body = {"share": {"name": "mine now"}}
    assert client.put(f"{SHARES}/{theirs.id}", json=body, headers=headers()).status_code == 404


def test_delete_launches_delete_share_and_keeps_the_backups(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    backup = make_backup(session, share)
    response = client.delete(f"{SHARES}/{share.id}", headers=headers())
    assert response.status_code == 202 and response.content == b""
    assert share_row(session, share.id).status == ShareStatus.DELETING
    [run] = launcher.submissions
    assert (run.deployment, run.parameters) == ("delete-share/safehold", {"share_id": share.id})
    assert client.get(f"/v2/share-backups/{backup.id}", headers=headers()).status_code == 200


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (ShareStatus.BACKUP_CREATING, 409),
        (ShareStatus.BACKUP_RESTORING, 409),
        (ShareStatus.CREATING, 400),
        (ShareStatus.DELETING, 400),
    ],
)
def test_delete_is_refused_while_busy(
    client: TestClient,
    launcher: RecordingLauncher,
    session: Session,
    settings: Settings,
    status: str,
    code: int,
) -> None:
    share = make_share(session, settings, status=status)
    response = client.delete(f"{SHARES}/{share.id}", headers=headers())
    assert response.status_code == code
    assert share_row(session, share.id).status == status
    assert launcher.submissions == []


def test_delete_of_another_projects_share_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    theirs = make_share(session, settings, project=OTHER_PROJECT)
    assert client.delete(f"{SHARES}/{theirs.id}", headers=headers()).status_code == 404
    assert client.delete(f"{SHARES}/{MISSING}", headers=headers()).status_code == 404


def test_a_share_whose_create_run_crashed_is_repaired_on_read(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    share = _create(client)
    [run] = launcher.submissions
    launcher.set_state(run.flow_run_id, "CRASHED", "worker lost")
    shown = client.get(f"{SHARES}/{share['id']}", headers=headers()).json()["share"]
    assert shown["status"] == "error"


def test_metadata_routes(client: TestClient, session: Session, settings: Settings) -> None:
    share = make_share(session, settings)
    url = f"{SHARES}/{share.id}/metadata"
    assert client.get(url, headers=headers()).json() == {"metadata": {}}
    merged = client.post(url, json={"metadata": {"a": "1", "b": "2"}}, headers=headers())
    assert merged.status_code == 200 and merged.json() == {"metadata": {"a": "1", "b": "2"}}
    merged = client.post(url, json={"metadata": {"b": "3"}}, headers=headers())
    assert merged.json() == {"metadata": {"a": "1", "b": "3"}}
    assert client.get(f"{url}/a", headers=headers()).json() == {"meta": {"a": "1"}}
    assert client.delete(f"{url}/a", headers=headers()).status_code == 200
    assert client.get(f"{url}/a", headers=headers()).status_code == 404
    assert client.delete(f"{url}/a", headers=headers()).status_code == 404
    replaced = client.put(url, json={"metadata": {"z": "9"}}, headers=headers())
    assert replaced.json() == {"metadata": {"z": "9"}}
    assert client.post(url, json={"metadata": "x"}, headers=headers()).status_code == 400
    assert client.get(url, headers=headers(user=ADMIN, project=OTHER_PROJECT)).status_code == 200
    assert client.get(url, headers=headers(project=OTHER_PROJECT)).status_code == 404
