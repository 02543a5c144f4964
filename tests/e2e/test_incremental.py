"""Incremental chains end to end: python-cinderclient, the real runner, cascade deletes."""

from __future__ import annotations

import asyncio
import filecmp
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cinderclient import exceptions as cinder_exc
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import FlowRun

from tests.e2e.helpers import MIB, cinder, tagged_runs, wait_for, wait_run, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "e2e0000000000000000000000000002"


@pytest.fixture(scope="module")
def admin(service: Service) -> Any:
    return cinder(service.url, "admin", PROJECT)


def _volume(admin: Any) -> tuple[Any, Path]:
    created = admin.volumes.create(size=1, name="e2e-incremental")
    vol = wait_for(lambda: admin.volumes.get(created.id), {"available", "error"})
    assert vol.status == "available"
    return vol, Path(vol.metadata["safehold:path"])


def _backup(admin: Any, volume_id: str, *, incremental: bool) -> Any:
    created = admin.backups.create(volume_id, incremental=incremental)
    backup = wait_for(lambda: admin.backups.get(created.id), {"available", "error"})
    assert backup.status == "available", backup.fail_reason
    return backup


def _change(path: Path, rng: random.Random, writes: int) -> set[int]:
    """Scattered 100 KiB random writes; the 1 MiB blocks they touched."""
    touched: set[int] = set()
    with open(path, "r+b") as f:
        for _ in range(writes):
            offset = rng.randrange(0, 48 * MIB)
            os.pwrite(f.fileno(), rng.randbytes(100 * 1024), offset)
            touched.update(range(offset // MIB, (offset + 100 * 1024 - 1) // MIB + 1))
    return touched


def _owned(service: Service, backup_id: str) -> list[Path]:
    root = service.data_dir / "backups" / "backups" / backup_id
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _segment_bytes(service: Service, backup_id: str) -> int:
    return sum(p.stat().st_size for p in _owned(service, backup_id) if p.name != "manifest")


def _cascade(service: Service, backup_id: str, cascade: bool = True) -> requests.Response:
    query = "?cascade=true" if cascade else ""
    return requests.delete(
        f"{service.url}/v3/{PROJECT}/backups/{backup_id}{query}",
        headers={"X-Auth-Token": f"admin:{PROJECT}"},
        timeout=30,
    )


def _wait_gone(admin: Any, backup_id: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            backup = admin.backups.get(backup_id)
        except cinder_exc.NotFound:
            return
        assert backup.status in ("deleting", "error_deleting"), backup.status
        time.sleep(0.3)
    raise AssertionError(f"backup {backup_id} still there")


def _tree_runs(service: Service, root_id: str) -> list[Any]:
    """The cascade runs of a tree (named `delete-backup-tree <volume> cascade of N`)."""
    runs = tagged_runs(service.prefect_api, f"backup:{root_id}")
    return [run for run in runs if run.name.startswith("delete-backup-tree ")]


def _runs(service: Service, name: str) -> list[FlowRun]:
    async def read() -> list[FlowRun]:
        async with PrefectClient(service.prefect_api) as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
            )

    return asyncio.run(read())


def test_chain_stores_changes_only_restores_and_cascades(service: Service, admin: Any) -> None:
    rng = random.Random(11)
    vol, path = _volume(admin)
    write_mixed(path, 48 * MIB, seed=11)
    full = _backup(admin, vol.id, incremental=False)

    touched = _change(path, rng, writes=3)
    inc1 = _backup(admin, vol.id, incremental=True)
    touched2 = _change(path, rng, writes=2)
    inc2 = _backup(admin, vol.id, incremental=True)
    assert [b.is_incremental for b in (full, inc1, inc2)] == [False, True, True]
    shown = [admin.backups.get(b.id) for b in (full, inc1, inc2)]
    assert [b.has_dependent_backups for b in shown] == [True, True, False]

    # An incremental stores (about) the changed 1 MiB blocks and nothing else.
    for backup, blocks in ((inc1, touched), (inc2, touched2)):
        stored = _segment_bytes(service, backup.id)
        assert 0 < stored <= len(blocks) * MIB + 64 * 1024, (stored, len(blocks))
        assert backup.object_count == len(_owned(service, backup.id)) == 2
    assert _segment_bytes(service, full.id) > 10 * _segment_bytes(service, inc1.id)

    restore = admin.restores.restore(inc2.id)
    target = wait_for(lambda: admin.volumes.get(restore.volume_id), {"available", "error"})
    assert target.status == "available"
    assert filecmp.cmp(path, Path(target.metadata["safehold:path"]), shallow=False)

    for parent in (full, inc1):
        with pytest.raises(cinder_exc.BadRequest, match="Incremental backups exist"):
            admin.backups.delete(parent.id)
    assert admin.backups.get(full.id).status == "available"

    response = _cascade(service, full.id)
    assert response.status_code == 202, response.text
    for backup in (inc2, inc1, full):
        _wait_gone(admin, backup.id)
        assert _owned(service, backup.id) == []

    [tree] = _tree_runs(service, full.id)
    # The last child removes the last row a moment before the tree run itself ends.
    ended = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    assert wait_run(service.prefect_api, str(tree.id), ended) == "COMPLETED"
    children = [_runs(service, f"delete-backup {b.id}") for b in (inc2, inc1, full)]
    assert all(len(runs) == 1 for runs in children)
    # Child flow runs, nested under the tree's run, leaves first.
    assert all(runs[0].parent_task_run_id is not None for runs in children)
    starts = [runs[0].start_time for runs in children if runs[0].start_time is not None]
    assert len(starts) == 3 and starts == sorted(starts)


def test_interrupted_cascade_resumes_and_finishes(service: Service, admin: Any) -> None:
    rng = random.Random(12)
    vol, path = _volume(admin)
    write_mixed(path, 8 * MIB, seed=12)
    full = _backup(admin, vol.id, incremental=False)
    _change(path, rng, writes=1)
    inc1 = _backup(admin, vol.id, incremental=True)
    _change(path, rng, writes=1)
    inc2 = _backup(admin, vol.id, incremental=True)

    # inc2 goes whole, inc1 loses its manifest, then deleting its segment fails for good.
    after = len(_owned(service, inc2.id)) + 1
    service.fault_file.write_text(json.dumps({"delete": {"after": after, "permanent": 1}}))
    try:
        assert _cascade(service, full.id).status_code == 202
        _wait_gone(admin, inc2.id)
        failed = wait_for(lambda: admin.backups.get(inc1.id), {"error_deleting"})
    finally:
        service.fault_file.unlink()
    assert failed.fail_reason and "injected" in failed.fail_reason
    root = wait_for(lambda: admin.backups.get(full.id), {"error_deleting"})
    assert root.fail_reason
    assert _owned(service, full.id) != [] and "manifest" not in {
        p.name for p in _owned(service, inc1.id)
    }

    # A plain DELETE of the interrupted root resumes the cascade.
    assert _cascade(service, full.id, cascade=False).status_code == 202
    for backup in (inc1, full):
        _wait_gone(admin, backup.id)
        assert _owned(service, backup.id) == []
    assert len(_tree_runs(service, full.id)) == 2
