"""tempest's test_volume_backup_export_import, step by step, with tempest's own service
clients and schemas, against the real service: the exported record is imported under a
new id while the original still exists, and both rows then read one stored backup.

tempest (tempest/api/volume/admin/test_volumes_backup.py) exports a backup, changes the
``id`` inside the decoded ``backup_url`` to a new UUID, imports it, waits for
``available``, restores the original and deletes both backups. Here each step asserts
what tempest asserts, plus what tempest leaves implicit: the imported backup restores the
same bytes, either row survives the deletion of the other, and the stored data goes with
the last row that reads it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tempest.lib import exceptions as lib_exc

from tests.e2e.helpers import MIB, write_mixed
from tests.e2e.test_tempest import _until, _until_gone
from tests.live import Service
from tests.wire.tempest_clients import VolumeClients, microversion, volume_clients

pytestmark = pytest.mark.e2e
PROJECT = "7e3b0c1d2e3f4a5b6c7d8e9f0a1b2c3e"
CASES = [("v3", None), ("v3", "3.9"), ("v3", "3.64"), ("v3", "3.71"), ("v2", None)]


@pytest.fixture(params=CASES, ids=[f"{tree}-{mv or 'base'}" for tree, mv in CASES])
def clients(request: pytest.FixtureRequest, service: Service) -> Iterator[VolumeClients]:
    tree, mv = request.param
    with microversion(mv):
        yield volume_clients(service.url, tree=tree, user="admin", project=PROJECT)


def _modify_backup_url(backup_url: str, changes: dict[str, Any]) -> str:
    """tempest's _modify_backup_url: decode, update, encode."""
    record = json.loads(base64.b64decode(backup_url).decode())
    record.update(changes)
    return base64.b64encode(json.dumps(record).encode()).decode()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _volume_with_data(clients: VolumeClients, seed: int) -> tuple[str, str]:
    """(volume id, sha256 of its image) of a new volume with some data written into it."""
    vol_id = clients.volumes.create_volume(size=1, name="tempest-records")["volume"]["id"]
    _until(lambda: clients.volumes.show_volume(vol_id)["volume"], "available")
    admin_view = clients.volumes.show_volume(vol_id)["volume"]
    path = Path(admin_view["metadata"]["safehold:path"])
    write_mixed(path, 3 * MIB, seed=seed)
    return vol_id, _sha256(path)


def _backup(clients: VolumeClients, vol_id: str) -> str:
    backup = clients.backups.create_backup(volume_id=vol_id, name="tempest-records")["backup"]
    _until(lambda: clients.backups.show_backup(backup["id"])["backup"], "available")
    _until(lambda: clients.volumes.show_volume(vol_id)["volume"], "available")
    return str(backup["id"])


def _import_as(clients: VolumeClients, record: dict[str, Any], new_id: str) -> dict[str, Any]:
    new_url = _modify_backup_url(record["backup_url"], {"id": new_id})
    imported = clients.backups.import_backup(
        backup_service=record["backup_service"], backup_url=new_url
    )["backup"]
    return dict(imported)


def _restored_sha256(clients: VolumeClients, backup_id: str) -> str:
    """Restore into a new volume (tempest's steps), return its image's sha256."""
    restore = clients.backups.restore_backup(backup_id)["restore"]
    assert restore["backup_id"] == backup_id
    _until(lambda: clients.backups.show_backup(backup_id)["backup"], "available")
    target = restore["volume_id"]
    volume = _until(lambda: clients.volumes.show_volume(target)["volume"], "available")
    assert target in [v["id"] for v in clients.volumes.list_volumes()["volumes"]]
    return _sha256(Path(volume["metadata"]["safehold:path"]))


def _delete(clients: VolumeClients, backup_id: str) -> None:
    """tempest's _delete_backup."""
    clients.backups.delete_backup(backup_id)
    _until_gone(lambda: clients.backups.show_backup(backup_id))


@pytest.fixture(scope="module")
def original(service: Service) -> tuple[str, str]:
    """(backup id, sha256 of the volume it was taken of): the backup every case exports."""
    clients = volume_clients(service.url, tree="v3", user="admin", project=PROJECT)
    vol_id, image_sha = _volume_with_data(clients, seed=61)
    return _backup(clients, vol_id), image_sha


def test_tempest_export_import_flow(
    clients: VolumeClients, service: Service, original: tuple[str, str]
) -> None:
    backup_id, image_sha = original
    export = clients.backups.export_backup(backup_id)["backup-record"]
    assert export["backup_service"].startswith("cinder.backup.drivers")  # tempest's check
    new_id = str(uuid.uuid4())
    imported = _import_as(clients, export, new_id)
    assert imported["id"] == new_id and imported["links"]
    _until(lambda: clients.backups.show_backup(new_id)["backup"], "available")
    assert new_id in [b["id"] for b in clients.backups.list_backups()["backups"]]

    assert _restored_sha256(clients, backup_id) == image_sha  # tempest restores the original

    # tempest's cleanup deletes the import: the original's data stays.
    _delete(clients, new_id)
    assert (service.data_dir / "backups" / "backups" / backup_id / "manifest").exists()
    assert clients.backups.show_backup(backup_id)["backup"]["status"] == "available"


def test_either_row_survives_the_other(service: Service) -> None:
    """Two imports of one backup: the original deleted, the first import restores; that
    deleted, the second restores; the last delete removes the data, after which an import
    of the record is refused with a 400."""
    clients = volume_clients(service.url, tree="v3", user="admin", project=PROJECT)
    vol_id, image_sha = _volume_with_data(clients, seed=62)
    backup_id = _backup(clients, vol_id)
    export = clients.backups.export_backup(backup_id)["backup-record"]
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    _import_as(clients, export, first)
    _import_as(clients, export, second)

    _delete(clients, backup_id)
    manifest = service.data_dir / "backups" / "backups" / backup_id / "manifest"
    assert manifest.exists()
    assert _restored_sha256(clients, first) == image_sha
    _delete(clients, first)
    assert _restored_sha256(clients, second) == image_sha
    _delete(clients, second)
    assert not manifest.exists() and not list(manifest.parent.rglob("*"))

    with pytest.raises(lib_exc.BadRequest) as refused:
        _import_as(clients, export, str(uuid.uuid4()))
    assert "is not in the backup store" in str(refused.value)
