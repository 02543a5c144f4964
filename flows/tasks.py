"""Prefect tasks: each wraps one public storage call and declares its retry policy.

Side-effect tasks never cache (a cached result would skip the side effect on a rerun).
Data tasks are async and run the blocking storage call in a thread, so the flow's
event loop (heartbeats, progress publishing) stays responsive.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows import context, ownership
from flows.limits import data_slot
from flows.progress import run_with_progress
from flows.retry import STORAGE_TASK, retry_unless_refused
from storage import catalog, format
from storage.catalog import Backup, BackupStatus, Volume
from storage.sources import block, confine

CATALOG_TASK: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": 1,
    "retry_condition_fn": retry_unless_refused,
    "cache_policy": NO_CACHE,
}


# -- catalog ----------------------------------------------------------------------------


# claim_*: the row this run drives, fresh; LostOwnership (never retried) unless it is still
# in ``statuses`` and driven by ``run_ids``.


@task(cache_policy=NO_CACHE)
def claim_backup(backup_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]) -> Backup:
    """The backup this run drives (see above)."""
    backup: Backup = ownership.require("backup", backup_id, statuses, run_ids)
    return backup


@task(cache_policy=NO_CACHE)
def claim_volume(volume_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]) -> Volume:
    """The volume this run drives (see above)."""
    volume: Volume = ownership.require("volume", volume_id, statuses, run_ids)
    return volume


@task(cache_policy=NO_CACHE)
def claim_snapshot(
    snapshot_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]
) -> catalog.Snapshot:
    """The snapshot this run drives (see above)."""
    snapshot: catalog.Snapshot = ownership.require("snapshot", snapshot_id, statuses, run_ids)
    return snapshot


@task(**CATALOG_TASK)
def load_backup(backup_id: str) -> Backup:
    """Read a backup row; RecordNotFound if it is gone."""
    with context.session() as s:
        return catalog.get_backup(session=s, backup_id=backup_id)


@task(**CATALOG_TASK)
def load_volume(volume_id: str) -> Volume:
    """Read a volume row; RecordNotFound if it is gone."""
    with context.session() as s:
        return catalog.get_volume(session=s, volume_id=volume_id)


@task(**CATALOG_TASK)
def finish_backup(
    backup_id: str, object_count: int, stored_bytes: int, run_ids: tuple[str, ...] = ()
) -> bool:
    """creating -> available, source volume released; idempotent; False if this run no
    longer drives the backup."""
    with context.session() as s:
        return catalog.finish_backup(
            session=s,
            backup_id=backup_id,
            object_count=object_count,
            stored_bytes=stored_bytes,
            run_ids=run_ids,
        )


@task(**CATALOG_TASK)
def finish_restore(backup_id: str, run_ids: tuple[str, ...] = ()) -> bool:
    """restoring -> available, target volume -> available; idempotent; False if this run
    no longer drives the restore."""
    with context.session() as s:
        return catalog.finish_restore(session=s, backup_id=backup_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def plan_release(backup_id: str, run_ids: tuple[str, ...] = ()) -> catalog.DataRelease | None:
    """Which stored backup the deleting row reads and whether others read it too; None if
    the row is gone; InvalidStatus unless deleting and without children; LostOwnership
    when another run drives the delete."""
    with context.session() as s:
        return catalog.plan_release(session=s, backup_id=backup_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def is_unread(data_id: str) -> bool:
    """True iff no row reads the stored backup any more."""
    with context.session() as s:
        return catalog.is_unread(session=s, data_id=data_id)


@task(**CATALOG_TASK)
def finish_backup_delete(backup_id: str, run_ids: tuple[str, ...] = ()) -> None:
    """Drop the deleted backup's row; idempotent; LostOwnership if another run drives it."""
    with context.session() as s:
        catalog.finish_backup_delete(session=s, backup_id=backup_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def set_volume_status(volume_id: str, to: str, expected: frozenset[str]) -> bool:
    """Compare-and-set a volume's status; False when it was elsewhere."""
    with context.session() as s:
        return catalog.set_volume_status(session=s, volume_id=volume_id, to=to, expected=expected)


@task(**CATALOG_TASK)
def finish_volume_setup(volume_id: str, size_bytes: int, run_ids: tuple[str, ...] = ()) -> bool:
    """creating/managing -> available with the measured size; idempotent; False if this
    run no longer drives the volume."""
    with context.session() as s:
        return catalog.finish_volume_setup(
            session=s, volume_id=volume_id, size_bytes=size_bytes, run_ids=run_ids
        )


@task(**CATALOG_TASK)
def delete_volume_row(volume_id: str, run_ids: tuple[str, ...] = ()) -> None:
    """Drop a deleted volume's row; idempotent; LostOwnership if another run drives it."""
    with context.session() as s:
        catalog.delete_volume_row(session=s, volume_id=volume_id, run_ids=run_ids)


# -- volumes ----------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def create_volume_file(path: str, size_bytes: int) -> None:
    """Create the sparse image file of a volume; idempotent."""
    block.create_volume_file(Path(path), size_bytes)


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def delete_volume_file(path: str) -> None:
    """Remove a volume's image file; idempotent."""
    block.delete_volume_file(Path(path))


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def measure_device(path: str) -> int:
    """Size in bytes of a file or block device; InvalidRequest if it left the manage roots
    (re-checked: defence in depth), PermanentStorageError if unreadable."""
    confine.recheck_source(path, context.settings().manage_root_paths())
    return block.device_size(Path(path))


# -- backup data ------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def read_manifest(data_id: str) -> format.Manifest:
    """Read and verify a stored backup's manifest; ObjectNotFound, CorruptData."""
    return await asyncio.to_thread(format.read_manifest, context.store(), data_id)


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600, **STORAGE_TASK)
async def write_backup(
    backup: Backup,
    source_path: str,
    parent: format.Manifest | None = None,
    run_ids: tuple[str, ...] = (),
) -> format.BackupResult:
    """Store the volume's blocks and commit the manifest; a rerun rewrites the same keys.

    With ``parent`` only blocks that differ from it are stored. The parent's block size
    wins over the configured one: comparing blocks needs the same geometry. The writer
    stops at the next block once the backup is no longer creating by ``run_ids``, and
    the manifest is committed only while it still is (LostOwnership otherwise).
    """
    cfg = context.settings()
    block_size = parent.block_size if parent is not None else cfg.block_size

    def still_creating() -> None:
        ownership.require("backup", backup.id, {BackupStatus.CREATING}, run_ids)

    def work(progress: format.ProgressFn, stop: threading.Event) -> format.BackupResult:
        return format.write_backup(
            context.store(),
            backup_id=backup.data_id,
            source_path=Path(source_path),
            record=catalog.backup_record(backup),
            block_size=block_size,
            segment_size=max(cfg.segment_size, block_size),
            zstd_level=cfg.zstd_level,
            parent=parent,
            progress=progress,
            stop=stop,
            before_commit=still_creating,
        )

    async with data_slot():
        return await run_with_progress(
            work, model=Backup, record_id=backup.id, label="backup", still_owned=still_creating
        )


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600, **STORAGE_TASK)
async def restore_backup(backup: Backup, target_path: str, run_ids: tuple[str, ...] = ()) -> int:
    """Write the stored backup the row reads into the target, verifying every checksum;
    stops at the next block once the backup is no longer restoring by ``run_ids``."""
    backup_id = backup.id

    def still_restoring() -> None:
        ownership.require("backup", backup_id, {BackupStatus.RESTORING}, run_ids)

    def work(progress: format.ProgressFn, stop: threading.Event) -> int:
        return format.restore_backup(
            context.store(),
            backup_id=backup.data_id,
            target_path=Path(target_path),
            progress=progress,
            stop=stop,
            before_commit=still_restoring,
        )

    async with data_slot():
        return await run_with_progress(
            work, model=Backup, record_id=backup_id, label="restore", still_owned=still_restoring
        )


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def delete_backup_objects(data_id: str) -> int:
    """Delete every object of a stored backup, manifest first; idempotent."""
    return await asyncio.to_thread(format.delete_backup_objects, context.store(), backup_id=data_id)
