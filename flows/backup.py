"""create-backup: a full backup of one volume."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import BACKUP_HOOKS


@flow(name="create-backup", log_prints=False, **BACKUP_HOOKS)
async def create_backup(backup_id: str) -> dict[str, int]:
    """creating -> (blocks + manifest stored) -> available; the volume returns to its status."""
    backup = tasks.load_backup(backup_id)
    volume = tasks.load_volume(backup.volume_id)
    result = await tasks.write_backup(backup, volume.path)
    tasks.finish_backup(backup_id, result.object_count, result.stored_bytes)
    return {"object_count": result.object_count, "stored_bytes": result.stored_bytes}
