"""The spine, end to end: real Prefect server and runner, the API, python-cinderclient."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import pytest
from cinderclient import exceptions as cinder_exc

from tests.e2e.helpers import MIB, allocated, cinder, tagged_runs, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "e2e0000000000000000000000000001"
DATA = 64 * MIB


@pytest.fixture(scope="module")
def admin(service: Service) -> Any:
    return cinder(service.url, "admin", PROJECT)


def _volume_path(admin: Any, volume_id: str) -> Path:
    vol = admin.volumes.get(volume_id)
    return Path(vol.metadata["safehold:path"])


def _new_volume(admin: Any, size_gb: int = 1) -> Any:
    vol = admin.volumes.create(size=size_gb, name="e2e")
    return wait_for(lambda: admin.volumes.get(vol.id), {"available", "error"})


def _backup(admin: Any, volume_id: str) -> Any:
    created = admin.backups.create(volume_id, name="e2e-backup")
    return wait_for(lambda: admin.backups.get(created.id), {"available", "error"})


def test_full_backup_and_restore_are_byte_identical(service: Service, admin: Any) -> None:
    source = _new_volume(admin)
    assert source.status == "available"
    path = _volume_path(admin, source.id)
    write_mixed(path, DATA, seed=1)

    backup = _backup(admin, source.id)
    assert backup.status == "available", backup.fail_reason
    assert backup.size == 1 and backup.object_count > 1 and not backup.is_incremental
    assert admin.volumes.get(source.id).status == "available"

    restore = admin.restores.restore(backup.id)
    target = wait_for(lambda: admin.volumes.get(restore.volume_id), {"available", "error"})
    assert target.status == "available"
    target_path = _volume_path(admin, target.id)
    assert filecmp.cmp(path, target_path, shallow=False)
    # Zero regions and the untouched 960 MiB stay holes: far less than 1 GiB allocated.
    assert allocated(target_path) <= allocated(path) + 4 * MIB
    assert target.metadata.get("src_backup_id") == backup.id

    # Restore onto the original after damaging it.
    with open(path, "r+b") as f:
        f.write(b"\xff" * MIB)
    admin.restores.restore(backup.id, volume_id=source.id)
    wait_for(lambda: admin.volumes.get(source.id), {"available", "error_restoring"})
    assert filecmp.cmp(path, target_path, shallow=False)
    assert admin.backups.get(backup.id).status == "available"

    admin.backups.delete(backup.id)
    _wait_gone(lambda: admin.backups.get(backup.id))
    assert not list((service.data_dir / "backups" / "backups").glob(f"{backup.id}*"))


def _wait_gone(get: Any) -> None:
    import time

    for _ in range(400):
        try:
            get()
        except cinder_exc.NotFound:
            return
        time.sleep(0.3)
    raise AssertionError("still there")


def test_transient_store_failures_are_retried(service: Service, admin: Any) -> None:
    vol = _new_volume(admin)
    write_mixed(_volume_path(admin, vol.id), 4 * MIB, seed=2)
    service.fault_file.write_text(json.dumps({"put": {"transient": 2}}))
    try:
        backup = _backup(admin, vol.id)
    finally:
        service.fault_file.unlink()
    assert backup.status == "available", backup.fail_reason
    assert admin.volumes.get(vol.id).status == "available"


def test_permanent_store_failure_ends_in_error(service: Service, admin: Any) -> None:
    vol = _new_volume(admin)
    write_mixed(_volume_path(admin, vol.id), 4 * MIB, seed=3)
    service.fault_file.write_text(json.dumps({"put": {"permanent": 1}}))
    try:
        backup = _backup(admin, vol.id)
    finally:
        service.fault_file.unlink()
    assert backup.status == "error"
    assert backup.fail_reason and "injected" in backup.fail_reason
    assert admin.volumes.get(vol.id).status == "available"


def test_bad_requests_change_nothing(service: Service, admin: Any) -> None:
    before = len(admin.backups.list())
    with pytest.raises(cinder_exc.NotFound):
        admin.backups.create("00000000-0000-0000-0000-00000000dead")
    other = cinder(service.url, "someone", "otherproject000000000000000000")
    vol = _new_volume(admin)
    with pytest.raises(cinder_exc.NotFound):
        other.backups.create(vol.id)
    import requests

    resp = requests.post(
        f"{service.url}/v3/{PROJECT}/backups",
        data="{not json",
        headers={"X-Auth-Token": f"admin:{PROJECT}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 400 and resp.json()["badRequest"]["code"] == 400
    resp = requests.get(
        f"{service.url}/v3/{PROJECT}/backups",
        headers={"X-Auth-Token": "admin:wrongproject"},
        timeout=10,
    )
    assert resp.status_code == 400 and "badRequest" in resp.json()
    assert len(admin.backups.list()) == before
    assert admin.volumes.get(vol.id).status == "available"


def test_each_operation_is_a_named_flow_run(service: Service, admin: Any) -> None:
    vol = _new_volume(admin)
    backup = _backup(admin, vol.id)

    runs = tagged_runs(service.prefect_api, f"backup:{backup.id}")
    # Named for what it does and to what: the volume by name, and the mode.
    assert [r.name for r in runs] == ["create-backup e2e full"]
    assert {f"volume:{vol.id}", "kind:backup", f"project:{PROJECT}"} <= set(runs[0].tags)
