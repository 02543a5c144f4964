"""Cinder v2: the v3 handlers at microversion 3.0 under /v2, and the v2 version document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from storage import catalog
from storage.settings import Settings

from .helpers import ADMIN, PROJECT, headers, make_volume

V2 = f"/v2/{PROJECT}"
V3 = f"/v3/{PROJECT}"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v2"


def _v2_document(base: str) -> dict[str, Any]:
    return {
        "id": "v2.0",
        "links": [
            {"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
            {"href": f"{base}/v2/", "rel": "self"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=2"}
        ],
        "min_version": "",
        "status": "DEPRECATED",
        "updated": "2017-02-25T12:00:00Z",
        "version": "",
    }


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_v2_document_is_200_without_a_token(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"versions": [_v2_document("http://testserver")]}
    assert "OpenStack-API-Version" not in response.headers


def test_v2_document_has_the_upstream_keys(client: TestClient) -> None:
    sample_path = SAMPLES / "version-show-response.json"
    sample = json.loads(sample_path.read_text())["versions"][0]
    ours = client.get("/v2/").json()["versions"][0]
    assert sorted(ours) == sorted(sample)
    assert (ours["status"], ours["min_version"], ours["version"]) == ("DEPRECATED", "", "")


def test_root_lists_v2_after_v3(client: TestClient) -> None:
    versions = client.get("/").json()["versions"]
    assert [v["id"] for v in versions] == ["v3.0", "v2.0"]
    assert versions[1] == _v2_document("http://testserver")


def _v2_backup(client: TestClient, session: Session, settings: Settings, **extra: Any) -> Any:
    volume = make_volume(session, settings.volumes_dir)
    body = {"backup": {"volume_id": volume.id, "name": "v2b", **extra}}
    return client.post(f"{V2}/backups", json=body, headers=headers(mv="3.64"))


def test_v2_create_and_show_use_v2_links_and_no_version_header(
    client: TestClient, session: Session, settings: Settings
) -> None:
    created = _v2_backup(client, session, settings)
    assert created.status_code == 202
    assert "OpenStack-API-Version" not in created.headers
    backup = created.json()["backup"]
    tail = f"{PROJECT}/backups/{backup['id']}"
    assert backup["links"] == [
        {"href": f"http://testserver/v2/{tail}", "rel": "self"},
        {"href": f"http://testserver/{tail}", "rel": "bookmark"},
    ]
    # The same backup seen through v3 at 3.0 has the same body, but v3 links.
    admin = headers(user=ADMIN, mv="3.64")  # v2 ignores the header: 3.0 fields only
    v2_shown = client.get(f"{V2}/backups/{backup['id']}", headers=admin).json()["backup"]
    v3_shown = client.get(f"{V3}/backups/{backup['id']}", headers=headers(user=ADMIN)).json()
    assert v2_shown["links"][0]["href"] == f"http://testserver/v2/{tail}"
    v3_body = v3_shown["backup"]
    assert {k: v for k, v in v2_shown.items() if k != "links"} == {
        k: v for k, v in v3_body.items() if k != "links"
    }
    assert "os-backup-project-attr:project_id" not in v2_shown
    assert "metadata" not in v2_shown


def test_v2_bodies_carry_the_upstream_v2_keys(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sample_path = SAMPLES / "backup-show-response.json"
    backup_id = _v2_backup(client, session, settings).json()["backup"]["id"]
    shown = client.get(f"{V2}/backups/{backup_id}", headers=headers()).json()["backup"]
    # v2 = v3 at 3.0, which added data_timestamp etc. to the old v2 sample's keys.
    assert set(json.loads(sample_path.read_text())["backup"]) <= set(shown)


def test_v2_has_no_microversioned_features(
    client: TestClient, session: Session, settings: Settings
) -> None:
    assert _v2_backup(client, session, settings, metadata={"a": "b"}).status_code == 400
    backup_id = _v2_backup(client, session, settings).json()["backup"]["id"]
    update = client.put(
        f"{V2}/backups/{backup_id}", json={"backup": {"name": "x"}}, headers=headers(mv="3.9")
    )
    assert update.status_code == 404
    listed = client.get(f"{V2}/backups?with_count=true", headers=headers(mv="3.45")).json()
    assert set(listed) == {"backups"}
    assert client.get(f"{V2}/backups?sort=name", headers=headers(mv="3.37")).status_code == 400


def test_v2_lists_and_paginates_with_v2_links(
    client: TestClient, session: Session, settings: Settings
) -> None:
    ids = {_v2_backup(client, session, settings).json()["backup"]["id"] for _ in range(2)}
    first = client.get(f"{V2}/backups/detail?limit=1", headers=headers()).json()
    [link] = first["backups_links"]
    assert link["href"].startswith(f"http://testserver{V2}/backups/detail?")
    second = client.get(link["href"], headers=headers()).json()
    assert {b["id"] for b in first["backups"] + second["backups"]} == ids


def test_v2_admin_actions_and_delete(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup_id = _v2_backup(client, session, settings).json()["backup"]["id"]
    action = client.post(
        f"{V2}/backups/{backup_id}/action",
        json={"os-reset_status": {"status": "error"}},
        headers=headers(user=ADMIN),
    )
    assert action.status_code == 202
    assert client.delete(f"{V2}/backups/{backup_id}", headers=headers()).status_code == 202
    assert catalog.get_backup(session=session, backup_id=backup_id).status == "deleting"


def test_v2_volumes(client: TestClient) -> None:
    created = client.post(f"{V2}/volumes", json={"volume": {"size": 1}}, headers=headers())
    assert created.status_code == 202
    volume = created.json()["volume"]
    assert volume["links"][0]["href"].startswith(f"http://testserver{V2}/volumes/")
    listed = client.get(f"{V2}/volumes", headers=headers()).json()
    assert [v["id"] for v in listed["volumes"]] == [volume["id"]]
