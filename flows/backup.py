"""create-backup: a full or incremental backup of one volume."""

from __future__ import annotations

import time

from prefect import flow

from flows import summary as summaries
from flows import tasks
from flows.backup_source import backup_source
from flows.hooks import BACKUP_HOOKS
from flows.ownership import current_runs
from storage.catalog import BackupStatus
from storage.errors import LostOwnership

CREATING = frozenset({BackupStatus.CREATING})


@flow(name="create-backup", log_prints=False, **BACKUP_HOOKS)
async def create_backup(backup_id: str) -> dict[str, int]:
    """creating -> (blocks + manifest stored) -> available; the volume returns to its status.

    Every step acts only while the backup is still creating by this run (LostOwnership
    otherwise: the run stops, and neither data nor rows are touched).
    """
    started = time.monotonic()
    run_ids = current_runs()
    backup = tasks.claim_backup(backup_id, CREATING, run_ids)
    volume = tasks.load_volume(backup.volume_id)
    parent = None
    if backup.parent_id:
        # The parent row may read a stored backup under another id (an import). It cannot
        # go away meanwhile: it has a dependent, so its delete is refused (docs/states.md).
        parent = await tasks.read_manifest(tasks.load_backup(backup.parent_id).data_id)
    # The volume, a snapshot of it, or a temporary copy of an in-use volume (removed on exit).
    async with backup_source(backup, volume) as source_path:
        result = await tasks.write_backup(backup, source_path, parent, run_ids)
    if not tasks.finish_backup(backup_id, result.object_count, result.stored_bytes, run_ids):
        raise LostOwnership(f"backup {backup_id} was settled by another path before it finished")
    block = result.manifest.block_size
    blocks = result.new_blocks + result.reused_blocks
    moved = summaries.Summary(
        source_bytes=(blocks + result.hole_blocks) * block,
        read_bytes=blocks * block,
        stored_bytes=result.stored_bytes,
        reused_bytes=result.reused_blocks * block,
        seconds=summaries.since(started),
    )
    await summaries.publish("volume", backup_id, moved)
    return {"object_count": result.object_count, "stored_bytes": result.stored_bytes}
