"""Cinder snapshot bodies (v3 samples, v2 tree) and list semantics, via HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.cinder.views.snapshots import snapshot_detail
from api.microversion import APIVersion
from api.views.common import ViewContext
from storage.settings import Settings

from .golden import assert_same_shape
from .helpers import (
    ADMIN,
    MISSING,
    OTHER_PROJECT,
    PROJECT,
    SNAPSHOTS,
    USER,
    headers,
    make_snapshot,
    make_volume,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v3" / "snapshots"
V2_SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "cinder-v2"


def _sample(folder: str, name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / folder / name).read_text()))


# -- views ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "mv"),
    [(".", "3.0"), ("v3.14", "3.14"), ("v3.41", "3.41"), ("v3.65", "3.65"), ("v3.65", "3.71")],
)
def test_bodies_match_the_samples(
    client: TestClient, session: Session, settings: Settings, folder: str, mv: str
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    admin = headers(user=ADMIN, mv=mv)
    created = client.post(SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=admin)
    assert_same_shape(created.json(), _sample(folder, "snapshot-create-response.json"))
    snapshot_id = created.json()["snapshot"]["id"]
    shown = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=admin).json()
    assert_same_shape(shown, _sample(folder, "snapshot-show-response.json"))
    updated = client.put(
        f"{SNAPSHOTS}/{snapshot_id}", json={"snapshot": {"name": "n2"}}, headers=admin
    ).json()
    assert_same_shape(updated, _sample(folder, "snapshot-update-response.json"))
    detailed = client.get(f"{SNAPSHOTS}/detail", headers=admin).json()
    assert_same_shape(detailed, _sample(folder, "snapshots-list-detailed-response.json"))
    # The plain list is the nine base fields at every microversion (Cinder's summary).
    listed = client.get(SNAPSHOTS, headers=admin).json()
    assert_same_shape(listed, _sample(".", "snapshots-list-response.json"))
    # A user sees the same keys: nothing here is admin-only.
    as_user = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=headers(mv=mv)).json()
    assert sorted(as_user["snapshot"]) == sorted(shown["snapshot"])


def test_consumes_quota_at_3_65(session: Session, settings: Settings) -> None:
    # The view alone; over HTTP at 3.65+ in test_bodies_match_the_samples.
    snap = make_snapshot(session, make_volume(session, settings.volumes_dir))
    for mv, extended, sample in [
        (APIVersion(3, 65), False, "snapshot-create-response.json"),
        (APIVersion(3, 65), True, "snapshot-show-response.json"),
    ]:
        view = ViewContext("http://x", PROJECT, mv, False)
        body = {"snapshot": snapshot_detail(snap, view, extended=extended)}
        assert_same_shape(body, _sample("v3.65", sample))
        assert body["snapshot"]["consumes_quota"] is True


def test_show_values(client: TestClient, session: Session, settings: Settings) -> None:
    snap = make_snapshot(session, make_volume(session, settings.volumes_dir), name="s")
    shown = client.get(f"{SNAPSHOTS}/{snap.id}", headers=headers(mv="3.41")).json()["snapshot"]
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    assert shown["os-extended-snapshot-attributes:project_id"] == PROJECT
    assert (shown["user_id"], shown["group_snapshot_id"], shown["status"]) == (
        USER,
        None,
        "available",
    )
    assert "links" not in shown


def test_v2_tree_serves_the_same_handlers_at_3_0(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    v2 = f"/v2/{PROJECT}/snapshots"
    created = client.post(
        v2, json={"snapshot": {"volume_id": volume.id}}, headers=headers(user=ADMIN, mv="3.41")
    )
    assert created.status_code == 202
    assert "OpenStack-API-Version" not in created.headers
    sample = json.loads((V2_SAMPLES / "snapshot-create-response.json").read_text())
    sample["snapshot"]["updated_at"] = None  # the v2-era sample predates the field
    assert_same_shape(created.json(), sample)
    snapshot_id = created.json()["snapshot"]["id"]
    shown = client.get(f"{v2}/{snapshot_id}", headers=headers(user=ADMIN)).json()
    assert_same_shape(shown, json.loads((V2_SAMPLES / "snapshot-show-response.json").read_text()))
    detailed = client.get(f"{v2}/detail", headers=headers(user=ADMIN)).json()
    sample = json.loads((V2_SAMPLES / "snapshots-list-detailed-response.json").read_text())
    del sample["snapshots_links"]  # only when a page is full
    assert_same_shape(detailed, sample)
    meta = client.post(
        f"{v2}/{snapshot_id}/metadata", json={"metadata": {"a": "b"}}, headers=headers()
    )
    assert meta.json() == {"metadata": {"a": "b"}}


# -- list -------------------------------------------------------------------------------


def test_list_filters_sorts_pages_and_counts(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume, other = (make_volume(session, settings.volumes_dir) for _ in range(2))
    for name in ("c", "a", "b"):
        make_snapshot(session, volume, name=name)
    make_snapshot(session, other, name="a")
    h = headers(mv="3.45")
    names = [
        s["name"] for s in client.get(f"{SNAPSHOTS}?sort=name:asc", headers=h).json()["snapshots"]
    ]
    assert names == ["a", "a", "b", "c"]
    # cinderclient sends sort_key=display_name.
    listed = client.get(
        f"{SNAPSHOTS}/detail?volume_id={volume.id}&sort_key=display_name&sort_dir=desc", headers=h
    ).json()["snapshots"]
    assert [s["name"] for s in listed] == ["c", "b", "a"]
    body = client.get(f"{SNAPSHOTS}?name=a&with_count=True", headers=h).json()
    assert body["count"] == 2 and {s["volume_id"] for s in body["snapshots"]} == {
        volume.id,
        other.id,
    }
    page = client.get(f"{SNAPSHOTS}?sort=name:asc&limit=2", headers=h).json()
    assert [s["name"] for s in page["snapshots"]] == ["a", "a"]
    (link,) = page["snapshots_links"]
    query = parse_qs(urlsplit(link["href"]).query)
    assert query["marker"] == [page["snapshots"][-1]["id"]]
    rest = client.get(link["href"], headers=h).json()
    assert [s["name"] for s in rest["snapshots"]] == ["b", "c"]
    # A full page always links on (Cinder): the page after it is empty and unlinked.
    last = client.get(rest["snapshots_links"][0]["href"], headers=h).json()
    assert last == {"snapshots": []}
    assert "count" not in client.get(f"{SNAPSHOTS}?with_count=true", headers=headers()).json()


@pytest.mark.parametrize(
    ("query", "mv", "status"),
    [
        ("limit=-1", None, 400),
        ("offset=x", None, 400),
        ("sort=name:sideways", None, 400),
        ("sort=path", None, 400),
        ("sort=name&sort_key=name", None, 400),
        ("all_tenants=perhaps", None, 400),
        ("marker=" + MISSING, None, 404),
        ("bogus=1", "3.31", 400),
        ("bogus=1", "3.30", 200),
    ],
)
def test_bad_list_queries(client: TestClient, query: str, mv: str | None, status: int) -> None:
    assert client.get(f"{SNAPSHOTS}?{query}", headers=headers(mv=mv)).status_code == status


def test_isolation_and_all_tenants(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine = make_snapshot(session, make_volume(session, settings.volumes_dir))
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    theirs = make_snapshot(session, volume, project=OTHER_PROJECT)
    ids = [
        s["id"]
        for s in client.get(f"{SNAPSHOTS}?all_tenants=1", headers=headers()).json()["snapshots"]
    ]
    assert ids == [mine.id]  # ignored for users
    admin_ids = {
        s["id"]
        for s in client.get(
            f"{SNAPSHOTS}/detail?all_tenants=1", headers=headers(user=ADMIN)
        ).json()["snapshots"]
    }
    assert admin_ids == {mine.id, theirs.id}
    for method, path, body in [
        ("GET", f"{SNAPSHOTS}/{theirs.id}", None),
        ("PUT", f"{SNAPSHOTS}/{theirs.id}", {"snapshot": {"name": "x"}}),
        ("DELETE", f"{SNAPSHOTS}/{theirs.id}", None),
        ("GET", f"{SNAPSHOTS}/{theirs.id}/metadata", None),
        ("POST", f"{SNAPSHOTS}/{theirs.id}/metadata", {"metadata": {"a": "b"}}),
        ("DELETE", f"{SNAPSHOTS}/{theirs.id}/metadata/a", None),
    ]:
        response = client.request(method, path, json=body, headers=headers())
        assert response.status_code == 404, (method, path)
    shown = client.get(f"{SNAPSHOTS}/{theirs.id}", headers=headers(user=ADMIN)).json()
    assert shown["snapshot"]["os-extended-snapshot-attributes:project_id"] == OTHER_PROJECT
