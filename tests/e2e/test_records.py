"""Backup records end to end: export/import with python-cinderclient after losing a
catalog row, and rebuilding lost rows with `safehold rebuild-catalog` and the flow."""

from __future__ import annotations

import asyncio
import filecmp
import functools
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import requests
from cinderclient import exceptions as cinder_exc
from prefect.client.orchestration import PrefectClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage import catalog
from storage.catalog import Backup
from tests.e2e.helpers import MIB, cinder, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "e2e0000000000000000000000000004"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def admin(service: Service) -> Any:
    return cinder(service.url, "admin", PROJECT)


@pytest.fixture(scope="module")
def engine(service: Service) -> Iterator[Engine]:
    """The running service's own SQLite catalog, to lose rows from behind its back."""
    eng = catalog.make_engine(f"sqlite:///{service.data_dir / 'catalog.db'}")
    yield eng
    eng.dispose()


@dataclass(frozen=True)
class Chain:
    """A volume with a full backup and an incremental one on top of it."""

    volume_id: str
    path: Path  # the volume's image, as at the incremental backup
    full_id: str
    full_sha256: str  # of the whole image at the full backup
    incremental_id: str

    @property
    def ids(self) -> list[str]:
        return [self.full_id, self.incremental_id]


def _backup(admin: Any, volume_id: str, incremental: bool = False) -> Any:
    created = admin.backups.create(volume_id, name="e2e-records", incremental=incremental)
    backup = wait_for(lambda: admin.backups.get(created.id), {"available", "error"})
    assert backup.status == "available", backup.fail_reason
    return backup


@pytest.fixture(scope="module")
def chain(admin: Any) -> Chain:
    created = admin.volumes.create(size=1, name="e2e-records")
    vol = wait_for(lambda: admin.volumes.get(created.id), {"available", "error"})
    assert vol.status == "available"
    path = Path(vol.metadata["safehold:path"])
    write_mixed(path, 6 * MIB, seed=41)
    full = _backup(admin, vol.id)
    full_sha = _sha256(path)
    write_mixed(path, 2 * MIB, seed=42)
    incremental = _backup(admin, vol.id, incremental=True)
    assert incremental.is_incremental
    return Chain(vol.id, path, full.id, full_sha, incremental.id)


def _lose_rows(engine: Engine, *backup_ids: str) -> None:
    """Delete backup rows directly: a lost catalog (the data stays in the store)."""
    with Session(engine) as s:
        for row in s.exec(select(Backup).where(col(Backup.id).in_(backup_ids))).all():
            s.delete(row)
        s.commit()


def _restored_paths(admin: Any, *backup_ids: str) -> list[Path]:
    """Restore each backup to a new volume, all at once; the restored image files."""
    targets = [admin.restores.restore(backup_id).volume_id for backup_id in backup_ids]
    paths = []
    for volume_id in targets:
        target = wait_for(functools.partial(admin.volumes.get, volume_id), {"available", "error"})
        assert target.status == "available"
        paths.append(Path(target.metadata["safehold:path"]))
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def test_export_lose_rows_import_parents_first_restore(
    admin: Any, engine: Engine, chain: Chain
) -> None:
    records = [admin.backups.export_record(backup_id) for backup_id in chain.ids]
    assert all(r["backup_service"].startswith("cinder.backup.drivers.safehold.") for r in records)

    _lose_rows(engine, *chain.ids)
    with pytest.raises(cinder_exc.NotFound):
        admin.backups.get(chain.full_id)
    full_record, incremental_record = records
    with pytest.raises(cinder_exc.BadRequest, match="import the parent first"):
        admin.backups.import_record(**incremental_record)

    imported = [admin.backups.import_record(**r) for r in records]
    assert [i["id"] for i in imported] == chain.ids
    assert imported[0]["name"] == "e2e-records"
    full, incremental = (admin.backups.get(backup_id) for backup_id in chain.ids)
    assert (full.status, full.volume_id, full.size) == ("available", chain.volume_id, 1)
    assert full.has_dependent_backups and incremental.is_incremental
    [restored] = _restored_paths(admin, chain.incremental_id)
    assert filecmp.cmp(chain.path, restored, shallow=False)

    with pytest.raises(cinder_exc.BadRequest, match="already exists"):
        admin.backups.import_record(**full_record)


def _rebuild_command(service: Service) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAFEHOLD_"))}
    env["SAFEHOLD_DATA_DIR"] = str(service.data_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "deployments.cli", "rebuild-catalog"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Other tests may leave damaged manifests behind on purpose; those make the exit 1.
    assert proc.returncode == (1 if "skipped backup" in proc.stdout else 0), proc.stderr
    return proc.stdout


def _wait_run(service: Service, run_id: str, timeout: float = 120.0) -> str:
    async def state() -> str:
        async with PrefectClient(service.prefect_api) as client:
            run = await client.read_flow_run(UUID(run_id))
            return run.state.type.value if run.state else "SCHEDULED"

    deadline = time.monotonic() + timeout
    while (current := asyncio.run(state())) not in ("COMPLETED", "FAILED", "CRASHED"):
        assert time.monotonic() < deadline, f"rebuild run {run_id} still {current}"
        time.sleep(0.5)
    return current


def test_rebuild_restores_lost_chains(
    service: Service, admin: Any, engine: Engine, chain: Chain
) -> None:
    # 1. Without Prefect: the command reads the store and the catalog directly.
    _lose_rows(engine, *chain.ids)
    out = _rebuild_command(service)
    assert out.index(f"re-created backup {chain.full_id}") < out.index(
        f"re-created backup {chain.incremental_id}"
    )
    full, incremental = (admin.backups.get(backup_id) for backup_id in chain.ids)
    assert (full.status, incremental.status) == ("available", "available")
    assert full.has_dependent_backups and incremental.is_incremental
    assert incremental.volume_id == chain.volume_id
    [restored] = _restored_paths(admin, chain.full_id)
    assert _sha256(restored) == chain.full_sha256

    # 2. Through the API: the rebuild-catalog flow on the real runner.
    _lose_rows(engine, *chain.ids)
    response = requests.post(
        f"{service.url}/v1/{PROJECT}/catalog/rebuild",
        headers={"X-Auth-Token": f"admin:{PROJECT}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert _wait_run(service, response.json()["rebuild"]["flow_run_id"]) == "COMPLETED"
    assert [admin.backups.get(i).status for i in chain.ids] == ["available", "available"]
    assert admin.backups.get(chain.full_id).has_dependent_backups


def test_garbage_collection_removes_only_unread_uncommitted_data(
    service: Service, chain: Chain
) -> None:
    store = service.data_dir / "backups" / "backups"
    garbage = store / str(uuid4()) / "segments" / "00000000"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"left by a write whose row is gone")
    headers = {"X-Auth-Token": f"admin:{PROJECT}"}
    url = f"{service.url}/v1/{PROJECT}/store/garbage"

    dry = requests.post(url, json={"grace_hours": 0, "dry_run": True}, headers=headers, timeout=30)
    assert _wait_run(service, dry.json()["garbage"]["flow_run_id"]) == "COMPLETED"
    assert garbage.exists()

    real = requests.post(url, json={"grace_hours": 0}, headers=headers, timeout=30)
    assert real.status_code == 202, real.text
    assert _wait_run(service, real.json()["garbage"]["flow_run_id"]) == "COMPLETED"
    assert not garbage.exists()
    for backup_id in chain.ids:  # committed backups rows read: untouched
        assert (store / backup_id / "manifest").exists()
