"""Snapshots end to end: python-cinderclient, the real runner, backups of snapshots and of
in-use volumes (through a temporary snapshot that never outlives its backup)."""

from __future__ import annotations

import asyncio
import filecmp
import os
import time
from pathlib import Path
from typing import Any

import pytest
from cinderclient import exceptions as cinder_exc
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter

from tests.e2e.helpers import MIB, cinder, tagged_runs, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "e2e0000000000000000000000000003"
SERVER = "5f0f5b1c-1b2f-4bd5-9f4b-0e6d2a7c9d11"
DATA = 24 * MIB


@pytest.fixture(scope="module")
def admin(service: Service) -> Any:
    return cinder(service.url, "admin", PROJECT)


def _path(admin: Any, volume_id: str) -> Path:
    return Path(admin.volumes.get(volume_id).metadata["safehold:path"])


def _settled_backup(admin: Any, created: Any) -> Any:
    backup = wait_for(lambda: admin.backups.get(created.id), {"available", "error"})
    assert backup.status == "available", backup.fail_reason
    return backup


def _restored(admin: Any, backup_id: str) -> Path:
    restore = admin.restores.restore(backup_id)
    target = wait_for(lambda: admin.volumes.get(restore.volume_id), {"available", "error"})
    assert target.status == "available"
    return _path(admin, target.id)


def _gone(get: Any) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            get()
        except cinder_exc.NotFound:
            return
        time.sleep(0.3)
    raise AssertionError("still there")


def _task_names(service: Service, resource_id: str) -> list[str]:
    """The task names of the flow runs tagged with a backup or snapshot, sorted."""
    flow_runs = tagged_runs(service.prefect_api, f"backup:{resource_id}", f"snapshot:{resource_id}")

    async def read() -> list[str]:
        async with PrefectClient(service.prefect_api) as client:
            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id={"any_": [r.id for r in flow_runs]})
            )
            return sorted(t.name.rsplit("-", 1)[0] for t in task_runs)

    return asyncio.run(read())


def test_snapshot_backup_attach_and_forced_backup(service: Service, admin: Any) -> None:
    created = admin.volumes.create(size=1, name="e2e-snap")
    volume = wait_for(lambda: admin.volumes.get(created.id), {"available", "error"})
    path = _path(admin, volume.id)
    write_mixed(path, DATA, seed=11)
    as_snapshotted = path.read_bytes()

    snap = admin.volume_snapshots.create(volume.id, name="before-change", metadata={"k": "v"})
    snap = wait_for(lambda: admin.volume_snapshots.get(snap.id), {"available", "error"})
    assert snap.status == "available"
    snap_file = service.data_dir / "snapshots" / f"{snap.id}.img"
    assert snap_file.read_bytes() == as_snapshotted
    assert snap.metadata == {"k": "v"}
    with pytest.raises(cinder_exc.BadRequest):  # a volume with snapshots stays
        admin.volumes.delete(volume.id)

    # The volume moves on; a backup of the snapshot still holds the old bytes.
    with open(path, "r+b") as f:
        os.pwrite(f.fileno(), b"\xff" * (2 * MIB), 3 * MIB)
    backup = _settled_backup(admin, admin.backups.create(volume.id, snapshot_id=snap.id))
    assert backup.snapshot_id == snap.id
    assert admin.volume_snapshots.get(snap.id).status == "available"
    restored = _restored(admin, backup.id)
    assert filecmp.cmp(restored, snap_file, shallow=False)
    assert not filecmp.cmp(restored, path, shallow=False)

    # Attached, the volume is in-use: a backup needs force, and is read from a copy.
    admin.volumes.attach(volume, SERVER, "/dev/vdb")
    attached = admin.volumes.get(volume.id)
    assert attached.status == "in-use"
    assert attached.attachments[0]["server_id"] == SERVER
    with pytest.raises(cinder_exc.BadRequest):
        admin.backups.create(volume.id)
    forced = _settled_backup(admin, admin.backups.create(volume.id, force=True))
    assert admin.volumes.get(volume.id).status == "in-use"
    assert sorted(p.name for p in (service.data_dir / "snapshots").iterdir()) == [snap_file.name]
    steps = _task_names(service, forced.id)
    assert "copy_point_in_time" in steps and "remove_snapshot_file" in steps
    assert filecmp.cmp(_restored(admin, forced.id), path, shallow=False)

    admin.volumes.detach(volume)
    assert admin.volumes.get(volume.id).status == "available"
    admin.volume_snapshots.delete(snap)
    _gone(lambda: admin.volume_snapshots.get(snap.id))
    assert not snap_file.exists()
    admin.volumes.delete(volume.id)  # no snapshots any more
    _gone(lambda: admin.volumes.get(volume.id))
