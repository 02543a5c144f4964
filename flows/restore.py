"""restore-backup: write a backup into a new or an existing volume."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import BACKUP_HOOKS
from flows.ownership import current_runs
from storage.catalog import BackupStatus, VolumeStatus, volume_bytes
from storage.errors import LostOwnership

RESTORING = frozenset({BackupStatus.RESTORING})


@flow(name="restore-backup", **BACKUP_HOOKS)
async def restore_backup(backup_id: str, volume_id: str) -> dict[str, int]:
    """restoring -> (target written and verified) -> available; target -> available.

    Acts only while the backup is restoring into ``volume_id`` by this run and the target
    is held for it (LostOwnership otherwise: nothing is written).
    """
    run_ids = current_runs()
    backup = tasks.claim_backup(backup_id, RESTORING, run_ids)
    if backup.restore_volume_id != volume_id:
        raise LostOwnership(f"backup {backup_id} is restoring into another volume now")
    volume = tasks.load_volume(volume_id)
    if volume.status == VolumeStatus.CREATING:
        # A volume made for this restore: its file does not exist yet.
        tasks.create_volume_file(volume.path, volume_bytes(volume))
        creating = frozenset({VolumeStatus.CREATING})
        if not tasks.set_volume_status(volume_id, VolumeStatus.RESTORING_BACKUP, creating):
            raise LostOwnership(f"restore target {volume_id} left creating meanwhile")
    elif volume.status != VolumeStatus.RESTORING_BACKUP:
        raise LostOwnership(f"restore target {volume_id} is {volume.status}, not held for it")
    restored = await tasks.restore_backup(backup, volume.path, run_ids)
    if not tasks.finish_restore(backup_id, run_ids):
        raise LostOwnership(f"restore of {backup_id} was settled by another path first")
    return {"bytes_restored": restored}
