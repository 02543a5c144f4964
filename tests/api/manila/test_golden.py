"""Golden shapes: version documents and share-backup bodies have the keys (and JSON types)
of the upstream Manila samples (tests/samples/manila). The samples show a user's view,
so requests are a user's; an admin's extra host/topic are checked in test_share_backups."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from storage.settings import Settings
from tests.api.golden import (
    SAMPLES_ROOT,
    assert_same_entry,
    assert_same_shape,
    load_sample,
    version_document,
)

from .helpers import BACKUPS, headers, make_backup, make_share

SAMPLES = SAMPLES_ROOT / "manila"
VERSION_KEYS = ("id", "media-types", "min_version", "status", "updated")


def _sample(name: str) -> dict[str, Any]:
    return load_sample(SAMPLES / name)


@pytest.mark.parametrize(
    ("path", "status", "sample"),
    [
        ("/", 300, "versions-index-response.json"),
        ("/v2/", 200, "versions-get-version-response.json"),
    ],
)
def test_version_documents_match_the_samples(
    client: TestClient, path: str, status: int, sample: str
) -> None:
    theirs = _sample(sample)
    ours = version_document(client, path, status, theirs)
    for entry, upstream in zip(ours["versions"], theirs["versions"], strict=True):
        assert_same_entry(entry, upstream, VERSION_KEYS)


def test_create_show_update_and_list_bodies_match_the_samples(
    client: TestClient, session: Session, settings: Settings
) -> None:
    share = make_share(session, settings)
    request = _sample("share-backup-create-request.json")
    request["share_backup"]["share_id"] = share.id
    created = client.post(BACKUPS, json=request, headers=headers())
    assert created.status_code == 202
    assert_same_shape(created.json(), _sample("share-backup-create-response.json"))
    assert created.json()["share_backup"]["name"] == "backup1"

    backup_id = created.json()["share_backup"]["id"]
    shown = client.get(f"{BACKUPS}/{backup_id}", headers=headers())
    assert_same_shape(shown.json(), _sample("share-backup-show-response.json"))

    updated = client.put(
        f"{BACKUPS}/{backup_id}",
        json=_sample("share-backup-update-request.json"),
        headers=headers(),
    )
    assert updated.status_code == 200
    assert_same_shape(updated.json(), _sample("share-backup-update-response.json"))
    assert updated.json()["share_backup"]["name"] == "backup2"

    listed = client.get(BACKUPS, headers=headers()).json()
    assert_same_shape(listed, _sample("share-backups-list-response.json"))
    detailed = client.get(f"{BACKUPS}/detail", headers=headers()).json()
    assert_same_shape(detailed, _sample("share-backups-list-detailed-response.json"))


def test_restore_and_reset_bodies_match_the_samples(
    client: TestClient, session: Session, settings: Settings
) -> None:
    backup = make_backup(session, make_share(session, settings))
    restored = client.post(
        f"{BACKUPS}/{backup.id}/action",
        json=_sample("share-backup-restore-request.json"),
        headers=headers(),
    )
    assert restored.status_code == 202
    assert_same_shape(restored.json(), _sample("share-backup-restore-response.json"))
    reset = client.post(
        f"{BACKUPS}/{backup.id}/action",
        json=_sample("share-backup-reset-status-request.json"),
        headers=headers(user="admin"),
    )
    assert reset.status_code == 202
    assert reset.content == b""
