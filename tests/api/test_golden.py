"""Golden shapes: our bodies have the same keys (and JSON types) as the upstream samples.

The samples (FIELDS.md) were produced by an admin, so these requests are made as one;
a user's narrower view is checked in test_backups/test_volumes.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.cinder.microversion import MAX_VERSION
from api.microversion import parse_version
from storage import catalog
from storage.settings import Settings

from .golden import (
    SAMPLES_ROOT,
    assert_same_entry,
    assert_same_shape,
    load_sample,
    version_document,
)
from .helpers import ADMIN, PROJECT, headers, make_volume

SAMPLES = SAMPLES_ROOT / "cinder-v3"
# Cinder's version entries as the samples have them (a Cinder whose maximum is 3.71, as ours).
VERSION_KEYS = ("id", "media-types", "min_version", "status", "version")


def _sample(relative: str) -> dict[str, Any]:
    return load_sample(SAMPLES / relative)


def _folders(kind: str) -> list[str]:
    if not (SAMPLES / kind).exists():
        return ["."]
    found = [p.name for p in (SAMPLES / kind).iterdir() if p.is_dir()]
    servable = [f for f in found if parse_version(f.removeprefix("v")) <= MAX_VERSION]
    return [".", *sorted(servable)]


def _mv(folder: str) -> str:
    return "3.0" if folder == "." else folder.removeprefix("v")


@pytest.mark.parametrize("folder", _folders("backups"))
def test_backup_bodies_match_the_samples(
    client: TestClient, session: Session, settings: Settings, folder: str
) -> None:
    mv = _mv(folder)
    admin = headers(user=ADMIN, mv=mv)
    volume = make_volume(session, settings.volumes_dir)
    body: dict[str, Any] = {"backup": {"volume_id": volume.id, "name": "backup001"}}
    created = client.post(f"/v3/{PROJECT}/backups", json=body, headers=admin)
    assert created.status_code == 202
    assert_same_shape(created.json(), _sample(f"backups/{folder}/backup-create-response.json"))
    backup_id = created.json()["backup"]["id"]
    shown = client.get(f"/v3/{PROJECT}/backups/{backup_id}", headers=admin).json()
    assert_same_shape(shown, _sample(f"backups/{folder}/backup-show-response.json"))
    for name, path in [
        ("backups-list-response.json", "backups"),
        ("backups-list-detailed-response.json", "backups/detail"),
    ]:
        sample = _sample(f"backups/{folder}/{name}")
        query = "?with_count=true" if "count" in sample else ""
        listed = client.get(f"/v3/{PROJECT}/{path}{query}", headers=admin).json()
        assert_same_shape(listed, sample)


@pytest.mark.parametrize("folder", _folders("volumes"))
def test_volume_bodies_match_the_samples(client: TestClient, session: Session, folder: str) -> None:
    mv = _mv(folder)
    admin = headers(user=ADMIN, mv=mv)
    created = client.post(f"/v3/{PROJECT}/volumes", json={"volume": {"size": 10}}, headers=admin)
    assert created.status_code == 202
    assert_same_shape(created.json(), _sample(f"volumes/{folder}/volume-create-response.json"))
    volume_id = created.json()["volume"]["id"]
    shown = client.get(f"/v3/{PROJECT}/volumes/{volume_id}", headers=admin).json()
    assert_same_shape(shown, _sample(f"volumes/{folder}/volume-show-response.json"))
    detailed = client.get(f"/v3/{PROJECT}/volumes/detail", headers=admin).json()
    assert_same_shape(detailed, _sample(f"volumes/{folder}/volumes-list-detailed-response.json"))
    if folder == ".":
        listed = client.get(f"/v3/{PROJECT}/volumes", headers=admin).json()
        assert_same_shape(listed, _sample("volumes/volumes-list-response.json"))


def test_restore_body_matches_the_sample(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    backup = catalog.begin_backup(
        session=session, project_id=PROJECT, user_id="alice", volume_id=volume.id
    )
    catalog.finish_backup(session=session, backup_id=backup.id, object_count=1, stored_bytes=1)
    request = _sample("backup-restore-request.json")
    request["restore"]["volume_id"] = volume.id
    response = client.post(
        f"/v3/{PROJECT}/backups/{backup.id}/restore", json=request, headers=headers()
    )
    assert response.status_code == 202
    assert_same_shape(response.json(), _sample("backup-restore-response.json"))


@pytest.mark.parametrize(
    ("path", "status", "sample"),
    [
        ("/", 300, "versions/versions-response.json"),
        ("/v3/", 200, "versions/version-show-response.json"),
    ],
)
def test_version_documents_match_the_samples(
    client: TestClient, path: str, status: int, sample: str
) -> None:
    theirs = _sample(sample)
    ours = version_document(client, path, status, theirs)
    assert_same_entry(ours["versions"][0], theirs["versions"][0], VERSION_KEYS)
