"""What a create-backup run reads: the volume, one of its snapshots, or a temporary copy.

An in-use volume (backed up with force) keeps changing while it is read, so the run
first takes a point-in-time copy and backs that up, as Cinder does with a temporary
snapshot. The copy is removed whatever happens: here on the way out, by the failure
hooks when the run dies, and by reconcile when even the hooks did not run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flows import snapshot_tasks
from storage.catalog import Backup, Volume, VolumeStatus


@asynccontextmanager
async def backup_source(backup: Backup, volume: Volume) -> AsyncIterator[str]:
    """Yield the path of the file the backup reads; a temporary copy is gone afterwards."""
    if backup.snapshot_id is not None:
        yield snapshot_tasks.load_snapshot(backup.snapshot_id).path
        return
    if volume.previous_status != VolumeStatus.IN_USE:
        yield volume.path
        return
    path = str(snapshot_tasks.temp_snapshot_path(backup.id))
    # Recorded before the file can exist, so that every cleanup path can find it.
    snapshot_tasks.record_temp_snapshot(backup.id, path)
    try:
        await snapshot_tasks.copy_point_in_time(volume.path, path)
        yield path
    finally:
        snapshot_tasks.remove_snapshot_file(path)
        snapshot_tasks.forget_temp_snapshot(backup.id)
