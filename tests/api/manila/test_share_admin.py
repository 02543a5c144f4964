"""Admin share calls: manage, unmanage, reset_status, export locations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage.catalog import ShareStatus
from storage.settings import Settings

from .helpers import MISSING, OTHER_PROJECT, SHARES, admin, headers, make_share, share_row


def _manage_body(path: Any, **fields: Any) -> dict[str, Any]:
    # What python-manilaclient 2.49+ sends.
    return {
        "share": {
            "service_host": "safehold@tree#default",
            "share_type": None,
            "protocol": "nfs",
            "export_path": path,
            "driver_options": {},
            "name": "managed",
            "description": None,
            "share_server_id": None,
            "is_public": False,
            **fields,
        }
    }


@pytest.fixture
def tree(settings: Settings) -> Path:
    """An existing directory inside the share roots (shares_dir by default)."""
    path = settings.shares_dir / "existing"
    path.mkdir(parents=True)
    (path / "file").write_text("kept")
    return path


def test_manage_registers_the_tree_and_launches_manage_share(
    client: TestClient, launcher: RecordingLauncher, session: Session, tree: Path
) -> None:
    response = client.post(f"{SHARES}/manage", json=_manage_body(str(tree)), headers=admin())
    assert response.status_code == 200, response.text
    share = response.json()["share"]
    assert (share["status"], share["name"], share["share_proto"]) == (
        "manage_starting",
        "managed",
        "NFS",
    )
    row = share_row(session, share["id"])
    assert row.path == str(tree.resolve()) and row.managed
    [run] = launcher.submissions
    assert (run.deployment, run.parameters) == ("manage-share/safehold", {"share_id": row.id})


def test_manage_accepts_an_export_path_object(client: TestClient, tree: Path) -> None:
    body = _manage_body({"path": str(tree)})
    assert client.post(f"{SHARES}/manage", json=body, headers=admin()).status_code == 200


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("file", "not a directory"),
        ("missing", "does not exist"),
        ("outside", "not under a managed root"),
        ("relative", "absolute path"),
    ],
)
def test_manage_refuses_paths_that_are_not_confined_directories(
    client: TestClient,
    launcher: RecordingLauncher,
    settings: Settings,
    tmp_path: Path,
    tree: Path,
    where: str,
    reason: str,
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    path = {
        "file": str(tree / "file"),
        "missing": str(settings.shares_dir / "nothing-here"),
        "outside": str(outside),
        "relative": "shares/existing",
    }[where]
    response = client.post(f"{SHARES}/manage", json=_manage_body(path), headers=admin())
    assert response.status_code == 400
    assert reason in response.json()["badRequest"]["message"]
    assert launcher.submissions == []


def test_manage_refuses_a_symlink_leading_out_of_the_roots(
    client: TestClient, settings: Settings, tmp_path: Path, tree: Path
) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    link = settings.shares_dir / "link"
    os.symlink(outside, link)
    response = client.post(f"{SHARES}/manage", json=_manage_body(str(link)), headers=admin())
    assert response.status_code == 400
    assert "leads outside" in response.json()["badRequest"]["message"]


def test_manage_refuses_the_shares_directory_itself(
    client: TestClient, settings: Settings, tree: Path
) -> None:
    body = _manage_body(str(settings.shares_dir))
    response = client.post(f"{SHARES}/manage", json=body, headers=admin())
    assert response.status_code == 400
    assert "holds the shares directory" in response.json()["badRequest"]["message"]


def test_manage_refuses_a_tree_that_overlaps_a_share(
    client: TestClient, session: Session, settings: Settings, tree: Path
) -> None:
    first = client.post(f"{SHARES}/manage", json=_manage_body(str(tree)), headers=admin())
    assert first.status_code == 200
    again = client.post(f"{SHARES}/manage", json=_manage_body(str(tree)), headers=admin())
    assert again.status_code == 409
    share = make_share(session, settings)
    Path(share.path).mkdir(parents=True)
    inside = client.post(f"{SHARES}/manage", json=_manage_body(share.path), headers=admin())
    assert inside.status_code == 409
    assert set(inside.json()) == {"conflictingRequest"}


def test_manage_is_admin_only_and_exists_from_2_7(
    client: TestClient, launcher: RecordingLauncher, tree: Path
) -> None:
    body = _manage_body(str(tree))
    refused = client.post(f"{SHARES}/manage", json=body, headers=headers())
    assert refused.status_code == 403
    assert (
        refused.json()["forbidden"]["message"]
        == "Policy doesn't allow share:manage to be performed."
    )
    assert client.post(f"{SHARES}/manage", json=body, headers=admin(mv="2.6")).status_code == 404
    assert launcher.submissions == []


@pytest.mark.parametrize("missing", ["protocol", "export_path", "service_host"])
def test_manage_needs_its_required_fields(client: TestClient, tree: Path, missing: str) -> None:
    body = _manage_body(str(tree))
    del body["share"][missing]
    assert client.post(f"{SHARES}/manage", json=body, headers=admin()).status_code == 400


def test_unmanage_launches_delete_share_in_unmanage_starting(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings, project=OTHER_PROJECT)
    response = client.post(f"{SHARES}/{share.id}/action", json={"unmanage": None}, headers=admin())
    assert response.status_code == 202 and response.content == b""
    assert share_row(session, share.id).status == ShareStatus.UNMANAGE_STARTING
    [run] = launcher.submissions
    assert (run.deployment, run.parameters) == ("delete-share/safehold", {"share_id": share.id})


def test_unmanage_is_admin_only_and_refused_while_busy(
    client: TestClient, launcher: RecordingLauncher, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    url = f"{SHARES}/{share.id}/action"
    assert client.post(url, json={"unmanage": None}, headers=headers()).status_code == 403
    shares_busy = make_share(session, settings, status=ShareStatus.BACKUP_CREATING)
    busy = client.post(
        f"{SHARES}/{shares_busy.id}/action", json={"unmanage": None}, headers=admin()
    )
    assert busy.status_code == 409
    creating = make_share(session, settings, status=ShareStatus.CREATING)
    wrong = client.post(f"{SHARES}/{creating.id}/action", json={"unmanage": None}, headers=admin())
    assert wrong.status_code == 400
    assert launcher.submissions == []


@pytest.mark.parametrize("action", ["reset_status", "os-reset_status"])
def test_reset_status_is_admin_only(
    client: TestClient, session: Session, settings: Settings, action: str
) -> None:
    share = make_share(session, settings)
    url = f"{SHARES}/{share.id}/action"
    body = {action: {"status": "error"}}
    assert client.post(url, json=body, headers=headers()).status_code == 403
    assert client.post(url, json=body, headers=admin()).status_code == 202
    assert share_row(session, share.id).status == "error"


def test_reset_status_refuses_unknown_statuses_and_bodies(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    url = f"{SHARES}/{share.id}/action"
    assert (
        client.post(url, json={"reset_status": {"status": "bogus"}}, headers=admin()).status_code
        == 400
    )
    assert client.post(url, json={"reset_status": {}}, headers=admin()).status_code == 400
    assert client.post(url, json={"extend": {"new_size": 3}}, headers=admin()).status_code == 400
    assert client.post(url, json={"a": 1, "b": 2}, headers=admin()).status_code == 400
    missing = client.post(
        f"{SHARES}/{MISSING}/action", json={"reset_status": {"status": "error"}}, headers=admin()
    )
    assert missing.status_code == 404


def test_reset_status_cancels_the_shares_own_run(
    client: TestClient, launcher: RecordingLauncher, session: Session
) -> None:
    created = client.post(
        SHARES, json={"share": {"share_proto": "NFS", "size": 1}}, headers=headers()
    ).json()["share"]
    [run] = launcher.submissions
    url = f"{SHARES}/{created['id']}/action"
    assert (
        client.post(url, json={"reset_status": {"status": "error"}}, headers=admin()).status_code
        == 202
    )
    assert [run_id for run_id, _ in launcher.cancelled] == [run.flow_run_id]


def test_export_locations_are_admin_only_and_exist_from_2_9(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings, project=OTHER_PROJECT)
    url = f"{SHARES}/{share.id}/export_locations"
    response = client.get(url, headers=admin())
    assert response.status_code == 200
    [location] = response.json()["export_locations"]
    assert location["path"] == share.path
    assert location["preferred"] is True and location["is_admin_only"] is False
    assert location["share_instance_id"] == share.id
    one = client.get(f"{url}/{location['id']}", headers=admin())
    assert one.json() == {"export_location": location}
    assert client.get(f"{url}/{MISSING}", headers=admin()).status_code == 404
    assert client.get(url, headers=headers(project=OTHER_PROJECT)).status_code == 403
    assert client.get(url, headers=admin(mv="2.8")).status_code == 404
    assert client.get(f"{SHARES}/{MISSING}/export_locations", headers=admin()).status_code == 404
