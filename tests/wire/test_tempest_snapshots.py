"""tempest.lib's SnapshotsClient against the served API, on v3 and v2: tempest's schemas hold.

Tempest's snapshot client sends no microversion, so every call is served at 3.0.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session
from tempest.lib import exceptions as lib_exc

from api.launcher import RecordingLauncher
from storage import catalog
from tests.wire.tempest_clients import ADMIN, PROJECT, volume_clients


@pytest.mark.parametrize("tree", ["v3", "v2"])
def test_snapshot_lifecycle(base_url: str, session: Session, tree: str) -> None:
    clients = volume_clients(base_url, tree=tree)
    admin = volume_clients(base_url, tree=tree, user=ADMIN).snapshots
    snapshots = clients.snapshots
    volume = clients.volumes.create_volume(size=1, name="snap-src")["volume"]
    assert catalog.finish_volume_setup(session=session, volume_id=volume["id"], size_bytes=1)

    created = snapshots.create_snapshot(volume_id=volume["id"], name="s1")["snapshot"]
    snapshot_id = created["id"]
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot_id)  # the flow's step
    shown = snapshots.show_snapshot(snapshot_id)["snapshot"]
    assert (shown["status"], shown["os-extended-snapshot-attributes:project_id"]) == (
        "available",
        PROJECT,
    )
    assert [s["id"] for s in snapshots.list_snapshots()["snapshots"]] == [snapshot_id]
    assert [s["id"] for s in snapshots.list_snapshots(detail=True)["snapshots"]] == [snapshot_id]
    assert snapshots.update_snapshot(snapshot_id, name="s2")["snapshot"]["name"] == "s2"

    snapshots.create_snapshot_metadata(snapshot_id, {"a": "1"})
    snapshots.update_snapshot_metadata(snapshot_id, metadata={"b": "2"})
    assert snapshots.show_snapshot_metadata(snapshot_id)["metadata"] == {"b": "2"}
    snapshots.update_snapshot_metadata_item(snapshot_id, "b", meta={"b": "3"})
    assert snapshots.show_snapshot_metadata_item(snapshot_id, "b")["meta"] == {"b": "3"}
    snapshots.delete_snapshot_metadata_item(snapshot_id, "b")
    assert snapshots.show_snapshot_metadata(snapshot_id)["metadata"] == {}

    with pytest.raises(lib_exc.Forbidden):
        snapshots.reset_snapshot_status(snapshot_id, "error")
    admin.reset_snapshot_status(snapshot_id, "error")
    assert snapshots.show_snapshot(snapshot_id)["snapshot"]["status"] == "error"

    snapshots.delete_snapshot(snapshot_id)
    assert snapshots.show_snapshot(snapshot_id)["snapshot"]["status"] == "deleting"
    catalog.finish_snapshot_delete(session=session, snapshot_id=snapshot_id)
    assert snapshots.is_resource_deleted(snapshot_id)


def test_snapshot_force_delete(base_url: str, session: Session) -> None:
    clients = volume_clients(base_url)
    volume = clients.volumes.create_volume(size=1)["volume"]
    assert catalog.finish_volume_setup(session=session, volume_id=volume["id"], size_bytes=1)
    snapshot_id = clients.snapshots.create_snapshot(volume_id=volume["id"])["snapshot"]["id"]
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot_id)
    admin = volume_clients(base_url, user=ADMIN).snapshots
    admin.reset_snapshot_status(snapshot_id, "error_deleting")
    admin.force_delete_snapshot(snapshot_id)
    assert clients.snapshots.show_snapshot(snapshot_id)["snapshot"]["status"] == "deleting"


@pytest.mark.parametrize("tree", ["v3", "v2"])
def test_update_snapshot_status_as_tempest_does(
    base_url: str, session: Session, launcher: RecordingLauncher, tree: str
) -> None:
    # tempest's test_update_snapshot_status: reset to creating (admin), then the owner
    # reports error and a progress; the create run has long completed.
    clients = volume_clients(base_url, tree=tree)
    admin = volume_clients(base_url, tree=tree, user=ADMIN).snapshots
    volume = clients.volumes.create_volume(size=1)["volume"]
    assert catalog.finish_volume_setup(session=session, volume_id=volume["id"], size_bytes=1)
    snapshot_id = clients.snapshots.create_snapshot(volume_id=volume["id"])["snapshot"]["id"]
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot_id)
    run_id = catalog.get_snapshot(session=session, snapshot_id=snapshot_id).flow_run_id
    launcher.set_state(run_id or "", "COMPLETED")

    admin.reset_snapshot_status(snapshot_id, "creating")
    clients.snapshots.update_snapshot_status(snapshot_id, status="error", progress="80%")
    shown = admin.show_snapshot(snapshot_id)["snapshot"]
    assert (shown["status"], shown["os-extended-snapshot-attributes:progress"]) == ("error", "80%")
    with pytest.raises(lib_exc.BadRequest):  # error is outside Cinder's table
        clients.snapshots.update_snapshot_status(snapshot_id, status="available")
