"""noauth identity: token forms, missing token, project mismatch, admin detection."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.auth import parse_token
from api.launcher import RecordingLauncher
from storage.settings import Settings

from .helpers import OTHER_PROJECT, PROJECT, catalog_rows, headers, make_volume


@pytest.mark.parametrize(
    ("token", "path_project", "expected"),
    [
        ("alice:p1", "p1", ("alice", "p1")),
        ("alice", None, ("alice", "alice")),
        ("notused", "p1", ("notused", "p1")),  # openstacksdk's auth_type=none
        ("alice:", "p1", ("alice", "alice")),
        ("", "p1", None),
        (":p1", "p1", None),
    ],
)
def test_parse_token(
    token: str, path_project: str | None, expected: tuple[str, str] | None
) -> None:
    assert parse_token(token, path_project) == expected


def test_missing_token_is_unauthorized(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups")
    assert response.status_code == 401
    assert response.json()["unauthorized"]["code"] == 401
    assert response.headers["OpenStack-API-Version"] == "volume 3.0"


def test_token_for_another_project_is_malformed_url(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(project=OTHER_PROJECT))
    assert response.status_code == 400
    assert response.json() == {
        "badRequest": {
            "code": 400,
            "message": f"Malformed request URL: URL's project_id '{PROJECT}' doesn't match "
            f"Context's project_id '{OTHER_PROJECT}'",
        }
    }


def test_sdk_token_takes_the_project_from_the_path(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/volumes", headers={"X-Auth-Token": "notused"})
    assert response.status_code == 200


def test_discovery_needs_no_token(client: TestClient) -> None:
    assert client.get("/").status_code == 300
    assert client.get("/v3").status_code == 200


@pytest.mark.parametrize(
    ("request_headers", "status"),
    [
        ({}, 401),
        (headers(project=OTHER_PROJECT), 400),
        (headers(mv="3.99"), 406),
    ],
)
def test_refused_callers_change_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    settings: Settings,
    launcher: RecordingLauncher,
    request_headers: dict[str, str],
    status: int,
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    before = catalog_rows(app.state.engine)
    body = {"backup": {"volume_id": volume.id}}
    response = client.post(f"/v3/{PROJECT}/backups", json=body, headers=request_headers)
    assert response.status_code == status
    assert catalog_rows(app.state.engine) == before
    assert launcher.submissions == []
