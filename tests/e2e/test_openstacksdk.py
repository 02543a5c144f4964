"""openstacksdk, unmodified, drives backups against the running service."""

from __future__ import annotations

import filecmp
import time
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack import exceptions as sdk_exc

from tests.e2e.helpers import MIB, cinder, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "sdk00000000000000000000000000001"


def _sdk(service: Service) -> Any:
    return openstack.connection.Connection(
        auth_type="none",
        block_storage_endpoint_override=f"{service.url}/v3/{PROJECT}",
        block_storage_api_version="3",
    )


def test_sdk_create_show_list_restore_delete(service: Service) -> None:
    conn = _sdk(service)
    admin = cinder(service.url, "admin", PROJECT)  # to find where the bytes live
    vol = conn.block_storage.create_volume(size=1, name="sdk")
    vol = wait_for(lambda: conn.block_storage.get_volume(vol.id), {"available", "error"})
    assert vol.status == "available"
    path = Path(admin.volumes.get(vol.id).metadata["safehold:path"])
    write_mixed(path, 8 * MIB, seed=11)

    backup = conn.block_storage.create_backup(volume_id=vol.id, name="sdk-backup")
    backup = wait_for(lambda: conn.block_storage.get_backup(backup.id), {"available", "error"})
    assert backup.status == "available", backup.fail_reason
    assert backup.id in [b.id for b in conn.block_storage.backups()]
    assert backup.id in [b.id for b in conn.block_storage.backups(details=True)]

    conn.block_storage.restore_backup(backup, name="sdk-restored")
    restored = _wait_named(admin, "sdk-restored")
    assert filecmp.cmp(path, Path(restored.metadata["safehold:path"]), shallow=False)

    conn.block_storage.delete_backup(backup)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn.block_storage.get_backup(backup.id)
        except sdk_exc.ResourceNotFound:
            return
        time.sleep(0.3)
    raise AssertionError("backup not deleted")


def _wait_named(admin: Any, name: str) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        vols = [v for v in admin.volumes.list() if v.name == name]
        if vols and vols[0].status == "available":
            return admin.volumes.get(vols[0].id)
        time.sleep(0.3)
    raise AssertionError(f"no available volume named {name}")
