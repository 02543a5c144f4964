"""Project-less URLs (Cinder 3.67): `/v3/backups…`, `/v3/snapshots…`, `/v3/volumes…` act in
the token's project, at every v3 microversion (Cinder maps them unversioned); v2 has none."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from storage import catalog
from storage.settings import Settings

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, USER, headers, make_snapshot, make_volume

ID = "3f0c1e9a-5a8b-4a51-9c0e-0d1c2b3a4f5e"


def _paths(app: FastAPI, prefix: str) -> set[tuple[str, str]]:
    found = set()
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(prefix):
            found |= {(method.upper(), path.removeprefix(prefix)) for method in operations}
    return found


def test_every_v3_project_route_has_a_project_less_twin(app: FastAPI) -> None:
    with_project = _paths(app, "/v3/{project_id}/")
    without = {(m, p) for m, p in _paths(app, "/v3/") if p and not p.startswith("{project_id}")}
    assert len(with_project) > 20 and with_project == without
    assert not {p for _, p in _paths(app, "/v2/") if p and not p.startswith("{project_id}")}


@pytest.mark.parametrize("mv", [None, "3.66", "3.67", "3.71"])
def test_every_twin_answers_like_its_project_route(
    client: TestClient, app: FastAPI, mv: str | None
) -> None:
    for method, path in sorted(_paths(app, "/v3/{project_id}/")):
        concrete = re.sub(r"\{[^}]+\}", ID, path)
        body = {} if method in ("POST", "PUT") else None
        ours = client.request(method, f"/v3/{concrete}", json=body, headers=headers(mv=mv))
        theirs = client.request(
            method, f"/v3/{PROJECT}/{concrete}", json=body, headers=headers(mv=mv)
        )
        assert (ours.status_code, ours.json() if ours.content else None) == (
            theirs.status_code,
            theirs.json() if theirs.content else None,
        ), (method, path)
        assert ours.headers["OpenStack-API-Version"] == f"volume {mv or '3.0'}"


def test_resources_land_in_the_tokens_project(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    h = headers(mv="3.67")
    created = client.post("/v3/volumes", json={"volume": {"size": 1, "name": "v"}}, headers=h)
    assert created.status_code == 202
    volume = created.json()["volume"]
    assert catalog.get_volume(session=session, volume_id=volume["id"]).project_id == PROJECT
    # Links of a project-less request carry no project (Cinder's _get_project_id_in_url).
    self_link, bookmark = (link["href"] for link in volume["links"])
    assert urlsplit(self_link).path == f"/v3/volumes/{volume['id']}"
    assert urlsplit(bookmark).path == f"/volumes/{volume['id']}"
    on_project_url = client.get(f"/v3/{PROJECT}/volumes/{volume['id']}", headers=h).json()
    assert urlsplit(on_project_url["volume"]["links"][0]["href"]).path == (
        f"/v3/{PROJECT}/volumes/{volume['id']}"
    )
    assert [v["id"] for v in client.get("/v3/volumes", headers=h).json()["volumes"]] == [
        volume["id"]
    ]


def test_backups_and_snapshots_without_project(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    snapshot = make_snapshot(session, volume, name="s")
    h = headers(mv="3.71")
    backup = client.post("/v3/backups", json={"backup": {"volume_id": volume.id}}, headers=h)
    assert backup.status_code == 202
    backup_id = backup.json()["backup"]["id"]
    assert client.get(f"/v3/backups/{backup_id}", headers=h).json()["backup"]["status"] == (
        "creating"
    )
    page = client.get("/v3/snapshots/detail?limit=1", headers=h).json()
    assert [s["id"] for s in page["snapshots"]] == [snapshot.id]
    # The next link stays on the project-less URL the request came in on.
    assert urlsplit(page["snapshots_links"][0]["href"]).path == "/v3/snapshots/detail"
    meta = client.put(
        f"/v3/snapshots/{snapshot.id}/metadata/k", json={"meta": {"k": "v"}}, headers=h
    )
    assert meta.json() == {"meta": {"k": "v"}}


def test_project_comes_from_the_token(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine = make_volume(session, settings.volumes_dir)
    theirs = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    as_other = headers(project=OTHER_PROJECT)
    assert client.get(f"/v3/volumes/{mine.id}", headers=as_other).status_code == 404
    assert client.get(f"/v3/volumes/{theirs.id}", headers=as_other).status_code == 200
    # A token without a project acts in the project named after its user (Cinder noauth).
    bare = client.post("/v3/volumes", json={"volume": {"size": 1}}, headers=headers(project=None))
    assert bare.status_code == 202
    volume_id = bare.json()["volume"]["id"]
    assert catalog.get_volume(session=session, volume_id=volume_id).project_id == USER
    # Admin scope works as on project URLs.
    listed = client.get("/v3/volumes?all_tenants=1", headers=headers(user=ADMIN)).json()
    assert {mine.id, theirs.id} <= {v["id"] for v in listed["volumes"]}


def test_no_token_is_401_and_v2_has_no_project_less_urls(client: TestClient) -> None:
    assert client.get("/v3/backups").status_code == 401
    assert client.get("/v3/snapshots", headers={"X-Auth-Token": ""}).status_code == 401
    assert client.get("/v2/backups", headers=headers()).status_code == 404
