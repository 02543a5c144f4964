"""Every Cinder route exists on /v3 and /v2; v3 always echoes the microversion, v2 never."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from .helpers import PROJECT, headers

ID = "3f0c1e9a-5a8b-4a51-9c0e-0d1c2b3a4f5e"


def _cinder_routes(app: FastAPI, tree: str) -> set[tuple[str, str]]:
    # FastAPI 0.150 keeps included routers lazily: the OpenAPI paths are the full list.
    found = set()
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(f"/{tree}/{{project_id}}/"):
            found |= {(method.upper(), path.removeprefix(f"/{tree}")) for method in operations}
    return found


def _requests(app: FastAPI) -> list[tuple[str, str]]:
    routes = sorted(_cinder_routes(app, "v3"))
    # Fill every path parameter with an id that exists nowhere: each call ends in some
    # status (404, 400, 403...), and every one of them must carry the echo.
    return [(m, re.sub(r"\{[^}]+\}", ID, p).replace(ID, PROJECT, 1)) for m, p in routes]


def test_v2_mounts_every_v3_route(app: FastAPI) -> None:
    v3 = _cinder_routes(app, "v3")
    assert len(v3) > 20
    assert _cinder_routes(app, "v2") == v3


def test_every_v3_route_echoes_the_microversion(client: TestClient, app: FastAPI) -> None:
    for method, path in _requests(app):
        body = {} if method in ("POST", "PUT") else None
        response = client.request(method, f"/v3{path}", json=body, headers=headers(mv="3.50"))
        assert response.headers.get("OpenStack-API-Version") == "volume 3.50", (method, path)
        assert "OpenStack-API-Version" in response.headers.get("Vary", ""), (method, path)


def test_no_v2_route_answers_with_a_microversion(client: TestClient, app: FastAPI) -> None:
    for method, path in _requests(app):
        body = {} if method in ("POST", "PUT") else None
        response = client.request(method, f"/v2{path}", json=body, headers=headers(mv="3.50"))
        assert "OpenStack-API-Version" not in response.headers, (method, path)
        assert response.status_code != 406, (method, path)


@pytest.mark.parametrize("mv", ["3.72", "2.0", "4.0"])
def test_versions_outside_the_range_are_406_on_v3_only(client: TestClient, mv: str) -> None:
    v3 = client.get(f"/v3/{PROJECT}/backups", headers=headers(mv=mv))
    assert v3.status_code == 406
    assert client.get(f"/v2/{PROJECT}/backups", headers=headers(mv=mv)).status_code == 200
