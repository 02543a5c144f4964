"""python-manilaclient (2.80 and 2.91) against the Manila app served by uvicorn on a free
local port, with the RecordingLauncher: the wire shapes the client sends and parses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from manilaclient import api_versions
from manilaclient import client as manila_client
from manilaclient import exceptions as manila_exc
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage.catalog import share_backups, shares
from tests.live import serve

from .helpers import OTHER_PROJECT, PROJECT


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn in a thread; yields its root URL."""
    with serve(app) as url:
        yield url


def manila(base_url: str, version: str, user: str = "admin", project: str = PROJECT) -> Any:
    """python-manilaclient as CLIENTS.md sets it up (noauth token user:project)."""
    return manila_client.Client(
        api_versions.APIVersion(version),
        input_auth_token=f"{user}:{project}",
        service_catalog_url=base_url + "/v2",
    )


def _available(app: FastAPI, share_id: str) -> None:
    # What the create-share flow does once the directory exists.
    with Session(app.state.engine) as db:
        assert shares.finish_share_setup(session=db, share_id=share_id)


def _backed_up(app: FastAPI, backup_id: str) -> None:
    # What the create-share-backup flow does once the tree is stored.
    result = {"object_count": 1, "stored_bytes": 1, "size_bytes": 1, "stats": {}}
    with Session(app.state.engine) as db:
        assert share_backups.finish_share_backup(session=db, backup_id=backup_id, result=result)


def test_discovery_reports_the_served_range(base_url: str) -> None:
    client = manila(base_url, "2.80")
    found = api_versions.discover_version(client, api_versions.APIVersion("2.91"))
    assert found.get_string() == "2.91"
    low, high = api_versions._get_server_version_range(client)
    assert (low.get_string(), high.get_string()) == ("2.0", "2.91")


def test_shares_create_list_show_update_delete(app: FastAPI, base_url: str) -> None:
    client = manila(base_url, "2.80")
    share = client.shares.create("NFS", 2, name="data", metadata={"k": "v"})
    assert (share.status, share.size, share.share_proto) == ("creating", 2, "NFS")
    _available(app, share.id)
    shown = client.shares.get(share.id)
    assert (shown.status, shown.metadata, shown.progress) == ("available", {"k": "v"}, "100%")
    assert [s.id for s in client.shares.list()] == [share.id]
    assert [s.name for s in client.shares.list(detailed=False)] == ["data"]
    assert [s.id for s in client.shares.list(search_opts={"name": "nope"})] == []
    assert [s.id for s in client.shares.list(sort_key="name", sort_dir="asc")] == [share.id]
    client.shares.update(share, display_name="renamed", display_description="words")
    assert (client.shares.get(share.id).name, client.shares.get(share.id).description) == (
        "renamed",
        "words",
    )
    [location] = client.share_export_locations.list(share)
    assert location.path.endswith(share.id)
    assert client.shares.get_metadata(share).to_dict() == {"k": "v"}
    client.shares.set_metadata(share, {"x": "y"})
    client.shares.delete_metadata(share, ["k"])
    assert client.shares.get_metadata(share).to_dict() == {"x": "y"}
    client.shares.reset_state(share, "error")
    assert client.shares.get(share.id).status == "error"
    client.shares.delete(share)
    assert client.shares.get(share.id).status == "deleting"
    with pytest.raises(manila_exc.NotFound):
        client.shares.get("3f0c1e9a-5a8b-4a51-9c0e-0d1c2b3a4f5e")


def test_share_unmanage_through_the_action(app: FastAPI, base_url: str) -> None:
    client = manila(base_url, "2.80")
    share = client.shares.create("NFS", 1)
    _available(app, share.id)
    client.shares.unmanage(share)
    assert client.shares.get(share.id).status == "unmanage_starting"


@pytest.mark.parametrize("version", ["2.80", "2.91"])
def test_share_backups_round_trip(
    app: FastAPI, base_url: str, launcher: RecordingLauncher, version: str
) -> None:
    client = manila(base_url, version)
    share = client.shares.create("NFS", 2, name="source")
    _available(app, share.id)

    backup = client.share_backups.create(share, name="b1", description="first")
    assert (backup.status, backup.share_id, backup.progress) == ("creating", share.id, "0")
    with pytest.raises(manila_exc.Conflict):  # the share is busy with it
        client.share_backups.create(share)
    _backed_up(app, backup.id)

    got = client.share_backups.get(backup.id)
    assert (got.status, got.progress, got.host) == ("available", "100", "safehold@tree#default")
    assert [b.id for b in client.share_backups.list()] == [backup.id]
    assert [b.name for b in client.share_backups.list(detailed=False)] == ["b1"]
    listed = client.share_backups.list(search_opts={"share_id": share.id}, sort_key="name")
    assert [b.id for b in listed] == [backup.id]
    with pytest.raises(manila_exc.BadRequest):
        client.share_backups.list(search_opts={"share_id": "3f0c1e9a-5a8b-4a51-9c0e-0d1c2b3a4f5e"})

    # The client wraps the whole `{"share_backup": ...}` body, as upstream's reply is.
    updated = client.share_backups.update(backup, name="renamed", description="new words")
    assert updated.share_backup["name"] == "renamed"
    shown = client.share_backups.get(backup.id)
    assert (shown.name, shown.description) == ("renamed", "new words")

    client.share_backups.restore(backup.id)
    assert client.share_backups.get(backup.id).status == "restoring"
    assert client.shares.get(share.id).status == "backup_restoring"
    with pytest.raises(manila_exc.BadRequest):  # not available while restoring
        client.share_backups.delete(backup)

    client.share_backups.reset_status(backup, "available")
    client.shares.reset_state(share, "available")
    client.share_backups.reset_status(backup, "error")
    assert client.share_backups.get(backup.id).status == "error"
    client.share_backups.delete(backup)
    assert client.share_backups.get(backup.id).status == "deleting"

    deployments = [s.deployment for s in launcher.submissions]
    assert deployments == [
        "create-share/safehold",
        "create-share-backup/safehold",
        "restore-share-backup/safehold",
        "delete-share-backup/safehold",
    ]
    assert launcher.submissions[2].parameters == {"backup_id": backup.id, "share_id": share.id}


def test_targeted_restore_at_2_91(app: FastAPI, base_url: str, launcher: RecordingLauncher) -> None:
    client = manila(base_url, "2.91")
    source, target, small = (client.shares.create("NFS", size) for size in (2, 3, 1))
    for share in (source, target, small):
        _available(app, share.id)
    backup = client.share_backups.create(source)
    _backed_up(app, backup.id)
    with pytest.raises(manila_exc.BadRequest):
        client.share_backups.restore(backup.id, small.id)
    client.share_backups.restore(backup.id, target.id)
    assert client.shares.get(target.id).status == "backup_restoring"
    assert client.shares.get(source.id).status == "available"
    assert launcher.submissions[-1].parameters == {"backup_id": backup.id, "share_id": target.id}


def test_users_are_confined_to_their_project(app: FastAPI, base_url: str) -> None:
    owner = manila(base_url, "2.80", user="alice")
    share = owner.shares.create("NFS", 1)
    _available(app, share.id)
    backup = owner.share_backups.create(share)
    other = manila(base_url, "2.80", user="bob", project=OTHER_PROJECT)
    with pytest.raises(manila_exc.NotFound):
        other.share_backups.get(backup.id)
    with pytest.raises(manila_exc.NotFound):
        other.shares.get(share.id)
    with pytest.raises(manila_exc.BadRequest):
        other.share_backups.create(share)
    with pytest.raises(manila_exc.Forbidden):
        owner.share_backups.reset_status(backup, "error")
    with pytest.raises(manila_exc.Forbidden):
        owner.share_backups.list(search_opts={"all_tenants": 1})
