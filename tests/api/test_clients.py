"""The real clients (python-cinderclient noauth, openstacksdk auth_type=none) work unchanged.

They need a real HTTP server: uvicorn runs the app in a thread on a free local port,
with the RecordingLauncher (the real-Prefect end-to-end test lives in tests/e2e).
"""

from __future__ import annotations

from collections.abc import Iterator

import openstack
import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exceptions
from cinderclient.contrib.noauth import CinderNoAuthPlugin
from fastapi import FastAPI
from keystoneauth1 import session as ks_session
from sqlmodel import Session

from storage import catalog
from storage.catalog import VolumeStatus
from tests.live import serve

from .helpers import PROJECT, USER


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn in a thread; yields its root URL."""
    with serve(app) as url:
        yield url


def _make_available(app: FastAPI, volume_id: str) -> None:
    # What the create-volume flow would do once the file exists.
    with Session(app.state.engine) as db:
        assert catalog.finish_volume_setup(session=db, volume_id=volume_id, size_bytes=1)


def test_cinderclient_noauth(app: FastAPI, base_url: str) -> None:
    auth = CinderNoAuthPlugin(user_id=USER, project_id=PROJECT, endpoint=base_url + "/v3")
    cinder = cinder_client.Client("3.64", session=ks_session.Session(auth=auth))

    volume = cinder.volumes.create(size=1, name="data")
    assert volume.status == "creating"
    _make_available(app, volume.id)
    assert cinder.volumes.get(volume.id).status == "available"
    assert [v.id for v in cinder.volumes.list()] == [volume.id]

    backup = cinder.backups.create(volume.id, name="nightly", metadata={"k": "v"})
    assert backup.name == "nightly"
    shown = cinder.backups.get(backup.id)
    assert (shown.status, shown.volume_id, shown.metadata) == ("creating", volume.id, {"k": "v"})
    assert [b.id for b in cinder.backups.list()] == [backup.id]
    assert [b.id for b in cinder.backups.list(detailed=False)] == [backup.id]
    assert [b.id for b in cinder.backups.list(sort="name:asc")] == [backup.id]

    with pytest.raises(cinder_exceptions.NotFound):
        cinder.backups.get("3f0c1e9a-5a8b-4a51-9c0e-0d1c2b3a4f5e")
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.delete(volume.id)  # backing-up


def test_cinderclient_discovers_the_server_version(base_url: str) -> None:
    # What `cinder --os-auth-type noauth ...` does first: GET the root, read the range.
    low, high = cinder_client.get_server_version(f"{base_url}/v3/{PROJECT}")
    assert (low.get_string(), high.get_string()) == ("3.0", "3.71")


def test_openstacksdk_auth_none(app: FastAPI, base_url: str) -> None:
    conn = openstack.connection.Connection(
        auth_type="none",
        block_storage_endpoint_override=f"{base_url}/v3/{PROJECT}",
        block_storage_api_version="3",
    )
    storage = conn.block_storage
    volume = storage.create_volume(size=1, name="sdk-data")
    assert volume.status == "creating"
    _make_available(app, volume.id)
    assert storage.get_volume(volume.id).status == "available"
    assert [v.id for v in storage.volumes()] == [volume.id]

    backup = storage.create_backup(volume_id=volume.id, name="sdk-backup")
    shown = storage.get_backup(backup.id)
    assert (shown.name, shown.status, shown.volume_id) == ("sdk-backup", "creating", volume.id)
    assert [b.id for b in storage.backups()] == [backup.id]
    assert [b.id for b in storage.backups(details=False)] == [backup.id]
    with Session(app.state.engine) as db:
        assert catalog.get_volume(session=db, volume_id=volume.id).status == (
            VolumeStatus.BACKING_UP
        )
