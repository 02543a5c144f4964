"""Share backup flows: create (full or incremental), restore (into any share), delete."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from flows import share_tasks as tasks
from flows import summary as summaries
from flows.hooks import SHARE_BACKUP_HOOKS
from flows.ownership import current_runs
from storage.catalog import ShareBackupStatus, ShareStatus
from storage.errors import LostOwnership

SB = ShareBackupStatus


@flow(name="create-share-backup", **SHARE_BACKUP_HOOKS)
async def create_share_backup(backup_id: str) -> dict[str, Any]:
    """creating -> (tree stored, manifest committed) -> available; share -> available.

    Incremental when the row names a parent: unchanged files are taken from the parent's
    manifest unread. The parent cannot be deleted meanwhile (its delete is refused while
    a backup based on it is creating).
    """
    started = time.monotonic()
    run_ids = current_runs()
    backup = tasks.claim_share_backup(backup_id, frozenset({SB.CREATING}), run_ids)
    share = tasks.load_share(backup.share_id)
    parent = None
    if backup.parent_id:
        parent = await tasks.read_tree_manifest(backup.share_id, backup.parent_id)
    result = await tasks.write_tree_backup(backup, share.path, parent, run_ids)
    if result.stats.changed_while_read:
        get_run_logger().warning(
            "share backup %s: %d files changed while read (stored as read): %s",
            backup_id,
            len(result.stats.changed_while_read),
            ", ".join(result.stats.changed_while_read[:20]),
        )
    summary = {
        "object_count": result.object_count,
        "stored_bytes": result.stored_bytes,
        "size_bytes": result.size_bytes,
        "stats": result.stats.as_dict(),
    }
    if not tasks.finish_share_backup(backup_id, summary, run_ids):
        raise LostOwnership(f"share backup {backup_id} was settled by another path first")
    stats = result.stats
    moved = summaries.Summary(
        source_bytes=stats.bytes_total,
        read_bytes=stats.bytes_read,
        stored_bytes=result.stored_bytes,
        reused_bytes=stats.bytes_reused,
        seconds=summaries.since(started),
    )
    await summaries.publish("share", backup_id, moved)
    return summary


@flow(name="restore-share-backup", **SHARE_BACKUP_HOOKS)
async def restore_share_backup(backup_id: str, share_id: str) -> dict[str, int]:
    """restoring -> (the share's tree made equal to the backup) -> available; the share
    backup_restoring -> available (backup_restoring_error if the run fails)."""
    run_ids = current_runs()
    backup = tasks.claim_share_backup(backup_id, frozenset({SB.RESTORING}), run_ids)
    if backup.restore_share_id != share_id:
        raise LostOwnership(f"share backup {backup_id} is restoring into another share now")
    share = tasks.load_share(share_id)
    if share.status != ShareStatus.BACKUP_RESTORING:
        raise LostOwnership(f"restore target {share_id} is {share.status}, not held for it")
    restored = await tasks.restore_tree_backup(backup, share.path, run_ids)
    if not tasks.finish_share_restore(backup_id, run_ids):
        raise LostOwnership(f"restore of {backup_id} was settled by another path first")
    return {"bytes_restored": restored}


@flow(name="delete-share-backup", **SHARE_BACKUP_HOOKS)
async def delete_share_backup(backup_id: str) -> dict[str, int]:
    """deleting -> (manifest, then packs no other backup references, deleted) -> row
    removed; rerunnable. Later backups keep restoring: they reference their packs."""
    run_ids = current_runs()
    backup = tasks.claim_share_backup(backup_id, frozenset({SB.DELETING}), run_ids)
    deleted = await tasks.delete_tree_backup(backup.share_id, backup_id)
    tasks.finish_share_backup_delete(backup_id, run_ids)
    return {"objects_deleted": deleted}
