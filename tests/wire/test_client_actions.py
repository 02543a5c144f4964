"""python-cinderclient and openstacksdk: backup update, reset-status, force-delete, filters;
snapshots at the clients' newest microversions (cinderclient 3.71, openstacksdk 3.65)."""

from __future__ import annotations

import openstack
import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exceptions
from cinderclient.contrib.noauth import CinderNoAuthPlugin
from keystoneauth1 import session as ks_session
from keystoneauth1.token_endpoint import Token
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from tests.wire.tempest_clients import ADMIN, PROJECT, USER


def _cinder(base_url: str, user: str, version: str = "3.64") -> cinder_client.Client:
    auth = CinderNoAuthPlugin(user_id=user, project_id=PROJECT, endpoint=base_url + "/v3")
    return cinder_client.Client(version, session=ks_session.Session(auth=auth))


def _volume_and_backup(session: Session, *, finish: bool = True, name: str = "b") -> str:
    volume = catalog.create_volume(
        session=session,
        project_id=PROJECT,
        user_id=USER,
        size_gb=1,
        path="/nonexistent/volume.img",  # no flow ever reads it here
        status="available",
    )
    backup = catalog.begin_backup(
        session=session, project_id=PROJECT, user_id=USER, volume_id=volume.id, name=name
    )
    if finish:
        catalog.finish_backup(session=session, backup_id=backup.id, object_count=1, stored_bytes=1)
    return backup.id


def test_cinderclient_update_reset_force_delete(base_url: str, session: Session) -> None:
    user, admin = _cinder(base_url, USER), _cinder(base_url, ADMIN)
    backup_id = _volume_and_backup(session)

    user.backups.update(backup_id, name="renamed", metadata={"tier": "gold"})
    shown = user.backups.get(backup_id)
    assert (shown.name, shown.metadata) == ("renamed", {"tier": "gold"})

    with pytest.raises(cinder_exceptions.Forbidden):
        user.backups.reset_state(backup_id, "error")
    admin.backups.reset_state(backup_id, "error")
    assert user.backups.get(backup_id).status == "error"
    with pytest.raises(cinder_exceptions.BadRequest):
        admin.backups.reset_state(backup_id, "restoring")

    creating = _volume_and_backup(session, finish=False)
    with pytest.raises(cinder_exceptions.BadRequest):  # its create run may still write
        admin.backups.delete(creating, force=True)
    admin.backups.delete(backup_id, force=True)  # {"os-force_delete": null}
    assert user.backups.get(backup_id).status == "deleting"


def test_cinderclient_like_filters_and_name_sort(base_url: str, session: Session) -> None:
    for name in ("Nightly-1", "weekly", "nightly-2"):
        _volume_and_backup(session, name=name)
    cinder = _cinder(base_url, USER)
    found = cinder.backups.list(search_opts={"name~": "night"}, sort="name:asc")
    assert [b.name for b in found] == ["Nightly-1", "nightly-2"]
    old = _cinder(base_url, USER, "3.30")
    # Before 3.31 the unknown filter is dropped; cinderclient sends display_name anyway.
    assert len(old.backups.list(search_opts={"name~": "night"}, sort="name:asc")) == 3


def test_openstacksdk_update_reset_force_delete(base_url: str, session: Session) -> None:
    endpoint = f"{base_url}/v3/{PROJECT}"
    # An admin token through keystoneauth's fixed-token plugin (CLIENTS.md).
    conn = openstack.connection.Connection(
        session=ks_session.Session(auth=Token(endpoint=endpoint, token=f"{ADMIN}:{PROJECT}")),
        block_storage_endpoint_override=endpoint,
        block_storage_api_version="3",
    )
    storage = conn.block_storage
    backup_id = _volume_and_backup(session)

    updated = storage.update_backup(backup_id, name="sdk-renamed")
    assert updated.name == "sdk-renamed"
    storage.reset_backup_status(backup_id, "error")
    assert storage.get_backup(backup_id).status == "error"

    storage.delete_backup(backup_id, force=True)
    assert storage.get_backup(backup_id).status == "deleting"


def test_clients_on_snapshots_at_their_newest_microversions(
    base_url: str, session: Session, launcher: RecordingLauncher
) -> None:
    volume = catalog.create_volume(
        session=session,
        project_id=PROJECT,
        user_id=USER,
        size_gb=1,
        path="/nonexistent/volume.img",
        status="in-use",  # attached: from 3.66 a snapshot needs no force
    )
    cinder = _cinder(base_url, USER, "3.71")  # python-cinderclient 9.x's maximum
    gold = cinder.volume_snapshots.create(volume.id, name="gold", metadata={"tier": "gold"})
    cinder.volume_snapshots.create(volume.id, name="plain")
    # cinderclient sends the metadata filter as str(dict), and drops falsy values.
    found = cinder.volume_snapshots.list(search_opts={"metadata": {"tier": "gold"}})
    assert [s.id for s in found] == [gold.id]
    assert cinder.volume_snapshots.list(search_opts={"consumes_quota": "false"}) == []
    assert len(cinder.volume_snapshots.list(search_opts={"consumes_quota": True})) == 2
    assert cinder.volume_snapshots.get(gold.id).consumes_quota is True

    # openstacksdk sends 3.65 for snapshots (its maximum) and reports status with it.
    conn = openstack.connection.Connection(
        session=ks_session.Session(
            auth=Token(endpoint=f"{base_url}/v3/{PROJECT}", token=f"{USER}:{PROJECT}")
        ),
        block_storage_endpoint_override=f"{base_url}/v3/{PROJECT}",
        block_storage_api_version="3",
    )
    run_id = catalog.get_snapshot(session=session, snapshot_id=gold.id).flow_run_id
    launcher.set_state(run_id or "", "COMPLETED")  # no live run: the report decides
    conn.block_storage.set_snapshot_status(gold.id, "available", "100%")
    shown = conn.block_storage.get_snapshot(gold.id)
    assert (shown.status, shown.progress, shown.consumes_quota) == ("available", "100%", True)
    with pytest.raises(cinder_exceptions.BadRequest):  # available is outside Cinder's table
        cinder.volume_snapshots.update_snapshot_status(gold.id, {"status": "creating"})
