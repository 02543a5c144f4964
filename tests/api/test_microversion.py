"""Microversion parsing, negotiation (400/406) and the header echo on every v3 reply."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.cinder.microversion import MAX_VERSION, MIN_VERSION, negotiate, requested_version
from api.microversion import APIVersion, VersionError

from .helpers import PROJECT, headers


def test_versions_compare_with_tuples() -> None:
    assert APIVersion(3, 43) >= (3, 43)
    assert APIVersion(3, 9) < (3, 10)
    assert str(APIVersion(3, 64)) == "3.64"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], MIN_VERSION),
        (["volume 3.43"], APIVersion(3, 43)),
        (["VOLUME   3.5"], APIVersion(3, 5)),
        (["volume latest"], MAX_VERSION),
        (["compute 2.1, volume 3.18"], APIVersion(3, 18)),
        (["compute 2.1", "volume 3.9"], APIVersion(3, 9)),
        (["compute 2.1"], MIN_VERSION),
    ],
)
def test_negotiate(values: list[str], expected: APIVersion) -> None:
    assert negotiate(values) == expected


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("volume 3.72", 406),
        ("volume 2.0", 406),
        ("volume 4.0", 406),
        ("volume 3", 400),
        ("volume 3.05", 400),
        ("volume x.y", 400),
        ("volume", 400),
    ],
)
def test_unusable_versions(value: str, status: int) -> None:
    with pytest.raises(VersionError) as caught:
        negotiate([value])
    assert caught.value.status == status


def test_requested_version_ignores_other_services() -> None:
    assert requested_version(["shared-file-system 2.80"]) is None


@pytest.mark.parametrize("mv", ["3.0", "3.43", "3.64", "3.65", "3.67", "3.71"])
def test_success_echoes_the_requested_version(client: TestClient, mv: str) -> None:
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv=mv))
    assert response.status_code == 200
    assert response.headers["OpenStack-API-Version"] == f"volume {mv}"
    assert response.headers["Vary"] == "OpenStack-API-Version"


def test_absent_header_means_3_0(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers())
    assert response.headers["OpenStack-API-Version"] == "volume 3.0"


def test_latest_echoes_the_maximum(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv="latest"))
    assert response.headers["OpenStack-API-Version"] == f"volume {MAX_VERSION}"


def test_out_of_range_is_406_with_echo(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv="3.99"))
    assert response.status_code == 406
    assert response.json() == {
        "computeFault": {
            "code": 406,
            "message": "Version 3.99 is not supported by the API. "
            "Minimum is 3.0 and maximum is 3.71.",
        }
    }
    assert response.headers["OpenStack-API-Version"] == "volume 3.99"
    assert response.headers["Vary"] == "OpenStack-API-Version"


def test_malformed_is_400_bad_request(client: TestClient) -> None:
    response = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv="3.x"))
    assert response.status_code == 400
    assert response.json()["badRequest"]["code"] == 400
    assert response.headers["OpenStack-API-Version"] == "volume 3.0"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/v3/{PROJECT}/volumes/0b6b0e5e-3b64-4a5b-9bd4-7c0d1c3f3c4e", 404),
        ("GET", f"/v3/{PROJECT}/no-such-collection", 404),
        ("PUT", f"/v3/{PROJECT}/backups", 405),
        ("GET", "/v3/other/backups", 400),
    ],
)
def test_errors_echo_the_version_too(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, headers=headers(mv="3.50"))
    assert response.status_code == status
    assert response.headers["OpenStack-API-Version"] == "volume 3.50"
    assert response.headers["Vary"] == "OpenStack-API-Version"


def test_version_document_echoes_too(client: TestClient) -> None:
    response = client.get("/v3/", headers={"OpenStack-API-Version": "volume 3.64"})
    assert response.headers["OpenStack-API-Version"] == "volume 3.64"


def test_other_trees_carry_no_volume_header(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert "OpenStack-API-Version" not in response.headers
