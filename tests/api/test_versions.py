"""Version discovery: GET / is 300, GET /v3[/] is 200, fields as upstream, no token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.cinder.microversion import MAX_VERSION

V3_KEYS = {"id", "links", "media-types", "min_version", "status", "updated", "version"}


def _expected(base: str) -> dict[str, object]:
    return {
        "id": "v3.0",
        "links": [
            {"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
            {"href": f"{base}/v3/", "rel": "self"},
        ],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.volume+json;version=3",
            }
        ],
        "min_version": "3.0",
        "status": "CURRENT",
        "updated": "2023-08-31T00:00:00Z",
        "version": str(MAX_VERSION),
    }


def test_root_lists_v3_then_v2_with_300_and_no_location(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 300
    assert "location" not in response.headers
    v3, v2 = response.json()["versions"]  # the v2 entry is checked in test_v2
    assert v3 == _expected("http://testserver")
    assert v2["id"] == "v2.0"


@pytest.mark.parametrize("path", ["/v3", "/v3/"])
def test_v3_document_is_200(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"versions": [_expected("http://testserver")]}


def test_self_link_follows_the_request_host(client: TestClient) -> None:
    body = client.get("/v3", headers={"Host": "cinder.example:8776"}).json()
    assert body["versions"][0]["links"][1]["href"] == "http://cinder.example:8776/v3/"


def test_max_version_satisfies_openstacksdk() -> None:
    assert MAX_VERSION >= (3, 64)
