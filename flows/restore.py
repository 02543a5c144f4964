"""restore-backup: write a backup into a new or an existing volume."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import BACKUP_HOOKS
from storage.catalog import VolumeStatus, volume_bytes


@flow(name="restore-backup", **BACKUP_HOOKS)
async def restore_backup(backup_id: str, volume_id: str) -> dict[str, int]:
    """restoring -> (target written and verified) -> available; target -> available."""
    volume = tasks.load_volume(volume_id)
    if volume.status == VolumeStatus.CREATING:
        # A volume made for this restore: its file does not exist yet.
        tasks.create_volume_file(volume.path, volume_bytes(volume))
        tasks.set_volume_status(
            volume_id, VolumeStatus.RESTORING_BACKUP, frozenset({VolumeStatus.CREATING})
        )
    restored = await tasks.restore_backup(tasks.load_backup(backup_id), volume.path)
    tasks.finish_restore(backup_id)
    return {"bytes_restored": restored}
