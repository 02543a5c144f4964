"""Snapshot flows: create (point-in-time copy of the volume) and delete (copy, then row).

Each acts only while the snapshot is in its run's transition, driven by that run
(LostOwnership otherwise: the run stops without touching the copy).
"""

from __future__ import annotations

from prefect import flow

from flows import snapshot_tasks, tasks
from flows.hooks import SNAPSHOT_HOOKS
from flows.ownership import current_runs
from storage.catalog import SnapshotStatus
from storage.errors import LostOwnership

S = SnapshotStatus


@flow(name="create-snapshot", **SNAPSHOT_HOOKS)
async def create_snapshot(snapshot_id: str) -> dict[str, str]:
    """creating -> (volume copied by reflink or sparse copy) -> available."""
    run_ids = current_runs()
    snapshot = tasks.claim_snapshot(snapshot_id, frozenset({S.CREATING}), run_ids)
    volume = tasks.load_volume(snapshot.volume_id)
    method = await snapshot_tasks.copy_point_in_time(volume.path, snapshot.path)
    if not snapshot_tasks.finish_snapshot(snapshot_id, run_ids):
        raise LostOwnership(f"snapshot {snapshot_id} was settled by another path first")
    return {"method": method}


@flow(name="delete-snapshot", **SNAPSHOT_HOOKS)
async def delete_snapshot(snapshot_id: str) -> dict[str, bool]:
    """deleting -> (copy removed) -> row removed; rerunnable."""
    run_ids = current_runs()
    snapshot = tasks.claim_snapshot(snapshot_id, frozenset({S.DELETING}), run_ids)
    removed = snapshot_tasks.remove_snapshot_file(snapshot.path)
    snapshot_tasks.finish_snapshot_delete(snapshot_id, run_ids)
    return {"file_removed": removed}
