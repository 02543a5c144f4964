"""Database flows: instances (create empty or from a backup, delete) and their backups
(create full or incremental, delete with cascade).

Each acts only while its row is in its run's transition, driven by that run
(LostOwnership otherwise: the run stops and changes nothing).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from flows import db_tasks as tasks
from flows import summary as summaries
from flows.hooks import DB_BACKUP_HOOKS, DB_INSTANCE_HOOKS
from flows.ownership import current_runs
from storage.catalog import DbBackupStatus, InstanceStatus
from storage.errors import LostOwnership

IS = InstanceStatus
DB = DbBackupStatus


@flow(name="create-db-instance", **DB_INSTANCE_HOOKS)
async def create_db_instance(instance_id: str) -> dict[str, int]:
    """BUILD -> (database created, or a registered one found; loaded from its restore
    point, if any) -> ACTIVE."""
    run_ids = current_runs()
    instance = tasks.claim_instance(instance_id, frozenset({IS.BUILD}), run_ids)
    if instance.managed:
        tasks.require_database(instance.datastore, instance.database)
    else:
        tasks.create_database(instance.datastore, instance.database)
    if instance.restore_backup_id:
        source = tasks.load_db_backup(instance.restore_backup_id)
        await tasks.restore_database(instance, source)
    used = tasks.used_bytes(instance.datastore, instance.database)
    if not tasks.finish_build(instance_id, used, run_ids):
        raise LostOwnership(f"instance {instance_id} was settled by another path first")
    return {"used_bytes": used}


@flow(name="delete-db-instance", **DB_INSTANCE_HOOKS)
async def delete_db_instance(instance_id: str) -> None:
    """SHUTDOWN -> (database dropped, unless registered by manage) -> row removed; its
    backups stay (Trove)."""
    run_ids = current_runs()
    instance = tasks.claim_instance(instance_id, frozenset({IS.SHUTDOWN}), run_ids)
    if not instance.managed:  # a registered database belongs to the operator: forgotten only
        tasks.drop_database(instance.datastore, instance.database)
    tasks.delete_instance_row(instance_id, run_ids)


@flow(name="create-db-backup", **DB_BACKUP_HOOKS)
async def create_db_backup(backup_id: str) -> dict[str, Any]:
    """NEW -> BUILDING -> (online dump streamed into chunks, manifest committed) ->
    COMPLETED; the instance BACKUP -> ACTIVE however it ends."""
    started = time.monotonic()
    run_ids = current_runs()
    backup = tasks.start_db_backup(backup_id, run_ids)
    instance = tasks.load_instance(backup.owner_id)
    parent = None
    if backup.parent_id:
        parent = await tasks.read_stream_manifest(backup.owner_id, backup.parent_id)
    result = await tasks.write_db_backup(backup, instance, parent, run_ids)
    summary = {
        "size_bytes": result.size,
        "stored_bytes": result.stored_bytes,
        "chunks": result.chunks,
        "new_chunks": result.new_chunks,
    }
    if not tasks.finish_db_backup(backup_id, summary, run_ids):
        raise LostOwnership(f"database backup {backup_id} was settled by another path first")
    tasks.note_used_bytes(instance.id, tasks.used_bytes(instance.datastore, instance.database))
    moved = summaries.Summary(
        source_bytes=result.size,
        read_bytes=result.size,  # a dump is read whole; deduplication happens after
        stored_bytes=result.stored_bytes,
        reused_bytes=0,
        seconds=summaries.since(started),
    )
    await summaries.publish("database", backup_id, moved)
    return summary


@flow(name="delete-db-backup", flow_run_name="delete-db-backup {backup_id}", **DB_BACKUP_HOOKS)
async def delete_db_backup(backup_id: str, cascade_run: str | None = None) -> int:
    """DELETING -> (manifest, then packs no other backup references) -> row removed;
    rerunnable. A child run of a cascade acts for ``cascade_run``."""
    run_ids = current_runs(cascade_run)
    backup = tasks.claim_db_backup(backup_id, frozenset({DB.DELETING}), run_ids)
    deleted = await tasks.delete_stream_backup(backup.owner_id, backup_id)
    tasks.delete_db_backup_row(backup_id)
    return deleted


@flow(name="delete-db-backup-tree", **DB_BACKUP_HOOKS)
async def delete_db_backup_tree(backup_id: str) -> dict[str, int]:
    """The backup and every descendant, leaves first, each a child run visible in the
    UI. The first that fails stops the cascade: it is DELETE_FAILED, the rest not reached
    go back to what they were (still restorable), and this run fails."""
    run_ids = current_runs()
    order = tasks.subtree_ids(backup_id)
    for index, target in enumerate(order):
        try:
            await delete_db_backup(target, cascade_run=run_ids[0])
        except Exception as exc:
            reason = f"delete of backup {target} failed: {exc}"
            get_run_logger().error("cascade of %s: %s", backup_id, reason)
            tasks.stop_cascade(target, order[index + 1 :], reason)
            raise
    return {"deleted": len(order)}
