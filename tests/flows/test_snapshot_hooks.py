"""Snapshot hooks, temporary-copy cleanup and reconcile's judgement, without a Prefect server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session

from flows import hooks, reconcile, snapshot_tasks
from storage import catalog
from storage.catalog import Backup, Volume


class _State:
    def __init__(self, type_: str, message: str) -> None:
        self.type = SimpleNamespace(value=type_)
        self.message = message


def _forced_backup(session: Session, tmp_path: Path) -> tuple[Volume, Backup, Path]:
    """A forced backup of an in-use volume whose run has made its temporary copy."""
    vol = catalog.create_volume(
        session=session, project_id="p", user_id="u", size_gb=1, volumes_dir=tmp_path
    )
    catalog.finish_volume_setup(session=session, volume_id=vol.id, size_bytes=1)
    catalog.attach_volume(session=session, volume_id=vol.id, project_id="p", mountpoint="/m")
    backup = catalog.begin_backup(
        session=session, project_id="p", user_id="u", volume_id=vol.id, force=True
    )
    copy = snapshot_tasks.temp_snapshot_path(backup.id)
    assert copy.parent == tmp_path.resolve() / "snapshots"
    catalog.record_temp_snapshot(session=session, backup_id=backup.id, path=str(copy))
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(b"point in time")
    return vol, backup, copy


@pytest.mark.parametrize("state_type", ["FAILED", "CRASHED", "CANCELLED"])
def test_backup_hook_removes_the_temporary_snapshot(
    flow_catalog: Session, tmp_path: Path, state_type: str
) -> None:
    vol, backup, copy = _forced_backup(flow_catalog, tmp_path)
    run = SimpleNamespace(id=uuid.uuid4(), parameters={"backup_id": backup.id})
    hooks.backup_run_ended(None, run, _State(state_type, "worker died"))
    hooks.backup_run_ended(None, run, _State(state_type, "again"))  # idempotent
    flow_catalog.refresh(backup)
    flow_catalog.refresh(vol)
    assert not copy.exists()
    assert (backup.status, backup.temp_snapshot_path) == ("error", None)
    assert vol.status == "in-use"  # back to where it was: still attached


def test_reconcile_sweeps_copies_the_hooks_missed(flow_catalog: Session, tmp_path: Path) -> None:
    _, backup, copy = _forced_backup(flow_catalog, tmp_path)
    # While the backup is being created its copy is in use and must stay.
    assert snapshot_tasks.sweep_temp_snapshots.fn() == 0
    assert copy.exists()
    # The run died without its hooks (SIGKILLed runner): only the catalog was repaired.
    catalog.fail_operation(session=flow_catalog, backup_id=backup.id, reason="vanished")
    assert snapshot_tasks.sweep_temp_snapshots.fn() == 1
    assert not copy.exists()
    assert snapshot_tasks.sweep_temp_snapshots.fn() == 0


def test_snapshot_hook_fails_the_snapshot(
    flow_catalog: Session, volume: Volume, tmp_path: Path
) -> None:
    snap = catalog.begin_snapshot(
        session=flow_catalog,
        project_id="p",
        user_id="u",
        volume_id=volume.id,
        snapshots_dir=tmp_path,
    )
    run = SimpleNamespace(id=uuid.uuid4(), parameters={"snapshot_id": snap.id})
    hooks.snapshot_run_ended(None, run, _State("CRASHED", "oom"))
    flow_catalog.refresh(snap)
    assert (snap.status, snap.fail_reason) == ("error", f"flow run {run.id} crashed: oom")


class _Client:
    """Stands in for the Prefect client: every run is in the given state."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    async def read_flow_run(self, run_id: uuid.UUID) -> Any:
        state = SimpleNamespace(type=SimpleNamespace(value=self.states[str(run_id)]), message="")
        return SimpleNamespace(state=state)


def test_reconcile_judges_a_held_volume_by_the_backups_run(
    flow_catalog: Session, tmp_path: Path
) -> None:
    vol, backup, _ = _forced_backup(flow_catalog, tmp_path)
    volume_run, backup_run = str(uuid.uuid4()), str(uuid.uuid4())
    catalog.attach_flow_run(session=flow_catalog, record=vol, flow_run_id=volume_run)
    catalog.attach_flow_run(session=flow_catalog, record=backup, flow_run_id=backup_run)
    flow_catalog.refresh(vol)
    # The volume's own (create-volume) run is long COMPLETED; the backup's is RUNNING.
    client: Any = _Client({volume_run: "COMPLETED", backup_run: "RUNNING"})
    run_id = catalog.driving_run(flow_catalog, vol)
    assert run_id == backup_run
    assert asyncio.run(reconcile._run_end(client, vol, run_id)) is None
    client.states[backup_run] = "CRASHED"
    assert "crashed" in (asyncio.run(reconcile._run_end(client, vol, run_id)) or "")
