"""Manila version discovery and microversion negotiation (FIELDS.md 1.1, 2.2)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .helpers import PROJECT, SHARES, headers

MANILA_HEADER = "X-OpenStack-Manila-API-Version"


def test_root_lists_v1_deprecated_and_v2_current_without_a_token(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 300
    assert "location" not in response.headers
    v1, v2 = response.json()["versions"]
    assert (v1["id"], v1["status"], v1["version"], v1["min_version"]) == (
        "v1.0",
        "DEPRECATED",
        "",
        "",
    )
    assert (v2["id"], v2["status"], v2["version"], v2["min_version"]) == (
        "v2.0",
        "CURRENT",
        "2.91",
        "2.0",
    )
    assert v2["links"][1] == {"href": "http://testserver/v2/", "rel": "self"}
    assert v1["links"][1] == {"href": "http://testserver/v1/", "rel": "self"}


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_v2_document_lists_only_v2(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    [entry] = response.json()["versions"]
    assert entry["id"] == "v2.0"
    assert response.headers[MANILA_HEADER] == "2.0"


def test_links_follow_the_requests_base_url(client: TestClient) -> None:
    response = client.get("/v2/", headers={"Host": "manila.example:8786"})
    assert response.json()["versions"][0]["links"][1]["href"] == "http://manila.example:8786/v2/"


def test_absent_version_is_2_0_and_echoed_with_vary(client: TestClient) -> None:
    response = client.get(SHARES, headers=headers(mv=None, experimental=False))
    assert response.status_code == 200
    assert response.headers[MANILA_HEADER] == "2.0"
    assert response.headers["Vary"] == MANILA_HEADER
    assert "X-OpenStack-Manila-API-Experimental" not in response.headers


def test_requested_version_and_experimental_flag_are_echoed(client: TestClient) -> None:
    response = client.get(SHARES, headers=headers(mv="2.47"))
    assert response.headers[MANILA_HEADER] == "2.47"
    assert response.headers["X-OpenStack-Manila-API-Experimental"] == "True"


def test_latest_is_the_maximum(client: TestClient) -> None:
    response = client.get(SHARES, headers=headers(mv="latest"))
    assert response.headers[MANILA_HEADER] == "2.91"


def test_keystoneauth_header_is_understood_and_echoed(client: TestClient) -> None:
    sent = {**headers(mv=None), "OpenStack-API-Version": "shared-file-system 2.85"}
    response = client.get(SHARES, headers=sent)
    assert response.status_code == 200
    assert response.headers[MANILA_HEADER] == "2.85"
    assert response.headers["OpenStack-API-Version"] == "shared-file-system 2.85"
    assert "OpenStack-API-Version" in response.headers.get_list("Vary")


def test_manila_header_wins_over_the_generic_one(client: TestClient) -> None:
    sent = {**headers(mv="2.10"), "OpenStack-API-Version": "shared-file-system 2.85"}
    assert client.get(SHARES, headers=sent).headers[MANILA_HEADER] == "2.10"


@pytest.mark.parametrize("mv", ["2.92", "1.0", "3.0"])
def test_versions_outside_the_range_are_406_with_the_echo(client: TestClient, mv: str) -> None:
    response = client.get(SHARES, headers=headers(mv=mv))
    assert response.status_code == 406
    fault = response.json()["computeFault"]
    assert fault["code"] == 406
    assert fault["message"] == (
        f"Version {mv} is not supported by the API. Minimum is 2.0 and maximum is 2.91."
    )
    assert response.headers[MANILA_HEADER] == mv
    assert response.headers["Vary"] == MANILA_HEADER


@pytest.mark.parametrize("mv", ["2.05", "two", "2"])
def test_malformed_versions_are_400(client: TestClient, mv: str) -> None:
    response = client.get(SHARES, headers=headers(mv=mv))
    assert response.status_code == 400
    assert "is of invalid format" in response.json()["badRequest"]["message"]
    assert response.headers[MANILA_HEADER] == "2.0"


def test_errors_carry_the_echo(client: TestClient) -> None:
    response = client.get(f"{SHARES}/nope", headers=headers(mv="2.80"))
    assert response.status_code == 404
    assert response.headers[MANILA_HEADER] == "2.80"
    assert response.headers["X-OpenStack-Manila-API-Experimental"] == "True"


def test_v2_routes_need_a_token_but_discovery_does_not(client: TestClient) -> None:
    response = client.get(SHARES, headers={MANILA_HEADER: "2.80"})
    assert response.status_code == 401
    assert response.json()["unauthorized"]["code"] == 401
    assert response.headers[MANILA_HEADER] == "2.80"
    assert client.get("/").status_code == 300


def test_a_url_project_other_than_the_tokens_is_refused_as_cinder_does(
    client: TestClient,
) -> None:
    response = client.get(f"/v2/{PROJECT}/shares", headers=headers(project="someone-else"))
    assert response.status_code == 400
    assert "doesn't match" in response.json()["badRequest"]["message"]
