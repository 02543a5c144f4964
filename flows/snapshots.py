"""Snapshot flows: create (point-in-time copy of the volume) and delete (copy, then row)."""

from __future__ import annotations

from prefect import flow

from flows import snapshot_tasks, tasks
from flows.hooks import SNAPSHOT_HOOKS


@flow(name="create-snapshot", **SNAPSHOT_HOOKS)
async def create_snapshot(snapshot_id: str) -> dict[str, str]:
    """creating -> (volume copied by reflink or sparse copy) -> available."""
    snapshot = snapshot_tasks.load_snapshot(snapshot_id)
    volume = tasks.load_volume(snapshot.volume_id)
    method = await snapshot_tasks.copy_point_in_time(volume.path, snapshot.path)
    snapshot_tasks.finish_snapshot(snapshot_id)
    return {"method": method}


@flow(name="delete-snapshot", **SNAPSHOT_HOOKS)
async def delete_snapshot(snapshot_id: str) -> dict[str, bool]:
    """deleting -> (copy removed) -> row removed; rerunnable."""
    snapshot = snapshot_tasks.load_snapshot(snapshot_id)
    removed = snapshot_tasks.remove_snapshot_file(snapshot.path)
    snapshot_tasks.finish_snapshot_delete(snapshot_id)
    return {"file_removed": removed}
