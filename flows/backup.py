"""create-backup: a full or incremental backup of one volume."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.backup_source import backup_source
from flows.hooks import BACKUP_HOOKS


@flow(name="create-backup", log_prints=False, **BACKUP_HOOKS)
async def create_backup(backup_id: str) -> dict[str, int]:
    """creating -> (blocks + manifest stored) -> available; the volume returns to its status."""
    backup = tasks.load_backup(backup_id)
    volume = tasks.load_volume(backup.volume_id)
    # An incremental's parent cannot go away meanwhile: it has a dependent, so its
    # delete is refused (docs/states.md).
    parent = None
    if backup.parent_id:
        # The parent row may read a stored backup under another id (an import).
        parent = await tasks.read_manifest(tasks.load_backup(backup.parent_id).data_id)
    # The volume, a snapshot of it, or a temporary copy of an in-use volume (removed on exit).
    async with backup_source(backup, volume) as source_path:
        result = await tasks.write_backup(backup, source_path, parent)
    tasks.finish_backup(backup_id, result.object_count, result.stored_bytes)
    return {"object_count": result.object_count, "stored_bytes": result.stored_bytes}
