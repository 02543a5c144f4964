"""python-cinderclient at 3.71 on project-less URLs (`/v3/volumes`, Cinder 3.67) drives
volumes, snapshots, backups and restores through real flow runs; openstacksdk at the
versions it negotiates (snapshots 3.65, volumes 3.71) reads them back."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import openstack
import pytest
from cinderclient import client as cinder_client
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint

from tests.e2e.helpers import MIB, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "pless00000000000000000000000001"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cinderclient_371_without_a_project_in_the_url(service: Service) -> None:
    auth = token_endpoint.Token(endpoint=f"{service.url}/v3", token=f"admin:{PROJECT}")
    cinder: Any = cinder_client.Client("3.71", session=ks_session.Session(auth=auth))
    created = cinder.volumes.create(size=1, name="projectless")
    volume = wait_for(lambda: cinder.volumes.get(created.id), {"available"})
    path = Path(volume.metadata["safehold:path"])
    write_mixed(path, 3 * MIB, seed=31)
    image = _sha256(path)

    snap = cinder.volume_snapshots.create(volume.id, name="pless")  # in-use rules of 3.66
    snap = wait_for(lambda: cinder.volume_snapshots.get(snap.id), {"available"})
    assert snap.consumes_quota is True  # a 3.65 field
    backup = cinder.backups.create(volume.id, name="pless")
    backup = wait_for(lambda: cinder.backups.get(backup.id), {"available", "error"})
    assert backup.status == "available", backup.fail_reason
    assert backup.id in [b.id for b in cinder.backups.list()]

    restore = cinder.restores.restore(backup.id)
    restored = wait_for(lambda: cinder.volumes.get(restore.volume_id), {"available", "error"})
    assert restored.status == "available"
    assert _sha256(Path(restored.metadata["safehold:path"])) == image

    sdk = openstack.connection.Connection(
        auth_type="none",
        block_storage_endpoint_override=f"{service.url}/v3/{PROJECT}",
        block_storage_api_version="3",
    )
    assert snap.id in [s.id for s in sdk.block_storage.snapshots()]
    assert sdk.block_storage.get_volume(volume.id).status == "available"
    assert sdk.block_storage.get_backup(backup.id).status == "available"

    # Leave no snapshot behind: other tests of this session count the snapshot files.
    cinder.volume_snapshots.delete(snap.id)
    deadline = time.monotonic() + 60
    while snap.id in [s.id for s in cinder.volume_snapshots.list()]:
        assert time.monotonic() < deadline, "snapshot not deleted"
        time.sleep(0.3)
