"""Every error is an OpenStack fault body with the right name, code and a safe message."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.faults import SERVER_ERROR, fault_body
from storage import catalog
from storage.errors import CorruptData

from .helpers import PROJECT, headers

MISSING = "3f0c1e9a-5a8b-4a51-9c0e-0d1c2b3a4f5e"


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "badRequest"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "itemNotFound"),
        (405, "badMethod"),
        (409, "conflictingRequest"),
        (413, "overLimit"),
        (415, "badMediaType"),
        (406, "computeFault"),
        (500, "computeFault"),
        (501, "notImplemented"),
        (503, "serviceUnavailable"),
    ],
)
def test_fault_names(status: int, name: str) -> None:
    assert fault_body(status, "m") == {name: {"code": status, "message": "m"}}


def test_unknown_volume_is_item_not_found(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/volumes/{MISSING}", headers=headers())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "itemNotFound": {"code": 404, "message": f"Volume {MISSING} could not be found."}
    }


def test_unknown_backup_is_item_not_found(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups/{MISSING}", headers=headers())
    assert response.status_code == 404
    assert response.json()["itemNotFound"]["message"] == f"Backup {MISSING} could not be found."


def test_unknown_route_is_item_not_found(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/nothing/here", headers=headers())
    assert response.status_code == 404
    assert list(response.json()) == ["itemNotFound"]


def test_wrong_method_is_bad_method_with_allow(client: TestClient) -> None:
    response = client.delete(f"/v3/{PROJECT}/backups", headers=headers())
    assert response.status_code == 405
    assert response.json()["badMethod"]["code"] == 405
    assert "POST" in response.headers["allow"]


def test_malformed_json_is_bad_request(client: TestClient) -> None:
    response = client.post(
        f"/v3/{PROJECT}/backups",
        content=b'{"backup": ',
        headers={**headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"badRequest": {"code": 400, "message": "Malformed request body"}}


def test_unknown_key_names_the_key(client: TestClient) -> None:
    body = {"backup": {"volume_id": MISSING, "colour": "blue"}}
    response = client.post(f"/v3/{PROJECT}/backups", json=body, headers=headers())
    assert response.status_code == 400
    message = response.json()["badRequest"]["message"]
    assert message == (
        "Invalid input for field/attribute backup. "
        "Additional properties are not allowed ('colour' was unexpected)"
    )


def test_missing_field_names_the_field(client: TestClient) -> None:
    response = client.post(f"/v3/{PROJECT}/backups", json={"backup": {}}, headers=headers())
    assert response.status_code == 400
    assert "backup.volume_id" in response.json()["badRequest"]["message"]


def test_bad_uuid_is_bad_request(client: TestClient) -> None:
    body = {"backup": {"volume_id": "not-a-uuid"}}
    response = client.post(f"/v3/{PROJECT}/backups", json=body, headers=headers())
    assert response.status_code == 400
    assert "'not-a-uuid' is not a 'uuid'" in response.json()["badRequest"]["message"]


def _boom(exc: Exception) -> Any:
    def raiser(**_: Any) -> Any:
        raise exc

    return raiser


@pytest.mark.parametrize(
    "exc", [RuntimeError("secret /etc/shadow"), CorruptData("secret segment key")]
)
def test_unexpected_errors_are_compute_faults_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    monkeypatch.setattr(catalog, "list_backups", _boom(exc))
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv="3.43"))
    assert response.status_code == 500
    assert response.json() == {"computeFault": {"code": 500, "message": SERVER_ERROR}}
    assert "secret" not in response.text
    assert response.headers["OpenStack-API-Version"] == "volume 3.43"
