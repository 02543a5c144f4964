"""tempest's service clients and response schemas against the real service (v3 and v2).

Unlike tests/wire (in-process app, rows moved by hand), every status here is reached by
real flow runs, so the schemas also see what the flows write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tempest.lib import exceptions as lib_exc

from tests.live import Service
from tests.wire.tempest_clients import VolumeClients, microversion, volume_clients

pytestmark = pytest.mark.e2e
PROJECT = "7e3b0c1d2e3f4a5b6c7d8e9f0a1b2c3d"
CASES = [("v3", "3.64"), ("v3", None), ("v2", None)]


@pytest.fixture(params=CASES, ids=[f"{tree}-{mv or 'base'}" for tree, mv in CASES])
def clients(request: pytest.FixtureRequest, service: Service) -> Iterator[VolumeClients]:
    tree, mv = request.param
    with microversion(mv):
        yield volume_clients(service.url, tree=tree, user="admin", project=PROJECT)


def _until(read: Callable[[], dict[str, Any]], status: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body = read()
    while body["status"] != status:
        assert body["status"] not in ("error", "error_restoring"), body
        assert time.monotonic() < deadline, f"stuck in {body['status']}"
        time.sleep(0.3)
        body = read()
    return body


def _until_gone(read: Callable[[], Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read()
        except lib_exc.NotFound:
            return
        time.sleep(0.3)
    raise AssertionError("still present")


def test_backup_and_snapshot_lifecycle_validates(clients: VolumeClients) -> None:
    vol_id = clients.volumes.create_volume(size=1, name="tempest")["volume"]["id"]
    _until(lambda: clients.volumes.show_volume(vol_id)["volume"], "available")

    backup_id = clients.backups.create_backup(volume_id=vol_id, name="tempest")["backup"]["id"]
    backup = _until(lambda: clients.backups.show_backup(backup_id)["backup"], "available")
    assert backup["volume_id"] == vol_id and backup["is_incremental"] is False
    assert backup_id in [b["id"] for b in clients.backups.list_backups()["backups"]]
    assert backup_id in [b["id"] for b in clients.backups.list_backups(detail=True)["backups"]]
    child = clients.backups.create_backup(volume_id=vol_id, incremental=True)["backup"]["id"]
    assert _until(lambda: clients.backups.show_backup(child)["backup"], "available")[
        "is_incremental"
    ]

    restore = clients.backups.restore_backup(child)["restore"]
    _until(lambda: clients.volumes.show_volume(restore["volume_id"])["volume"], "available")
    _until(lambda: clients.backups.show_backup(child)["backup"], "available")

    snap_id = clients.snapshots.create_snapshot(volume_id=vol_id, name="tempest")["snapshot"]["id"]
    _until(lambda: clients.snapshots.show_snapshot(snap_id)["snapshot"], "available")
    clients.snapshots.delete_snapshot(snap_id)
    _until_gone(lambda: clients.snapshots.show_snapshot(snap_id))

    clients.backups.delete_backup(child)
    _until_gone(lambda: clients.backups.show_backup(child))
    clients.backups.delete_backup(backup_id)
    _until_gone(lambda: clients.backups.show_backup(backup_id))
    for volume in (restore["volume_id"], vol_id):
        clients.volumes.delete_volume(volume)
        _until_gone(lambda v=volume: clients.volumes.show_volume(v))
