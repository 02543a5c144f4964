"""Prefect tasks of share flows: each wraps one public storage call with its retry policy.

As in flows.tasks: side-effect tasks never cache; data tasks run in a thread so the
flow's event loop keeps publishing progress and checking ownership.
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
from flows.retry import STORAGE_TASK
from flows.tasks import CATALOG_TASK
from storage.catalog import Share, ShareBackup, ShareBackupStatus, share_backups, shares
from storage.catalog.records import share_backup_record
from storage.format import ProgressFn, tree
from storage.sources import confine
from storage.sources import tree as trees

# -- catalog ----------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def claim_share(share_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]) -> Share:
    """The share this run drives, fresh; LostOwnership (never retried) unless it is still
    in ``statuses`` and driven by ``run_ids``."""
    share: Share = ownership.require("share", share_id, statuses, run_ids)
    return share


@task(cache_policy=NO_CACHE)
def claim_share_backup(
    backup_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]
) -> ShareBackup:
    """The share backup this run drives (as claim_share)."""
    backup: ShareBackup = ownership.require("share_backup", backup_id, statuses, run_ids)
    return backup


@task(**CATALOG_TASK)
def load_share(share_id: str) -> Share:
    """Read a share row; RecordNotFound if it is gone."""
    with context.session() as s:
        return shares.get_share(session=s, share_id=share_id)


@task(**CATALOG_TASK)
def load_share_backup(backup_id: str) -> ShareBackup:
    """Read a share backup row; RecordNotFound if it is gone."""
    with context.session() as s:
        return share_backups.get_share_backup(session=s, backup_id=backup_id)


@task(**CATALOG_TASK)
def finish_share_setup(share_id: str, run_ids: tuple[str, ...]) -> bool:
    """creating/manage_starting -> available; idempotent; False if settled elsewhere."""
    with context.session() as s:
        return shares.finish_share_setup(session=s, share_id=share_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def delete_share_row(share_id: str, run_ids: tuple[str, ...]) -> None:
    """Drop a deleted or unmanaged share's row; idempotent."""
    with context.session() as s:
        shares.delete_share_row(session=s, share_id=share_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def finish_share_backup(backup_id: str, result: dict[str, Any], run_ids: tuple[str, ...]) -> bool:
    """creating -> available, share released; idempotent; False if settled elsewhere."""
    with context.session() as s:
        return share_backups.finish_share_backup(
            session=s, backup_id=backup_id, result=result, run_ids=run_ids
        )


@task(**CATALOG_TASK)
def finish_share_restore(backup_id: str, run_ids: tuple[str, ...]) -> bool:
    """restoring -> available, target share -> available; idempotent."""
    with context.session() as s:
        return share_backups.finish_share_restore(session=s, backup_id=backup_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def finish_share_backup_delete(backup_id: str, run_ids: tuple[str, ...]) -> None:
    """Drop a deleted share backup's row; idempotent."""
    with context.session() as s:
        share_backups.finish_share_backup_delete(session=s, backup_id=backup_id, run_ids=run_ids)


# -- share trees ------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def create_share_dir(path: str) -> None:
    """Create a new share's empty directory; idempotent."""
    trees.create_share_dir(Path(path))


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def delete_share_dir(path: str) -> None:
    """Remove a share's directory tree; idempotent."""
    trees.delete_share_dir(Path(path))


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def check_managed_dir(path: str) -> None:
    """InvalidRequest unless ``path`` is still a directory inside the share roots
    (re-checked at run time: defence in depth)."""
    confine.recheck_directory(path, context.settings().share_root_paths())


# -- tree backup data -------------------------------------------------------------------


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def read_tree_manifest(share_id: str, backup_id: str) -> tree.TreeManifest:
    """Read and verify a tree backup's manifest; ObjectNotFound, CorruptData."""
    return await asyncio.to_thread(
        tree.read_tree_manifest, context.store(), share_id=share_id, backup_id=backup_id
    )


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600, **STORAGE_TASK)
async def write_tree_backup(
    backup: ShareBackup,
    source_dir: str,
    parent: tree.TreeManifest | None,
    run_ids: tuple[str, ...],
) -> tree.TreeBackupResult:
    """Store the share's tree (only what ``parent`` lacks) and commit the manifest; a
    rerun rewrites the same keys; stops once the backup is no longer creating by
    ``run_ids``, and commits only while it still is (LostOwnership otherwise)."""
    cfg = context.settings()

    def still_creating() -> None:
        ownership.require("share_backup", backup.id, {ShareBackupStatus.CREATING}, run_ids)

    def work(progress: ProgressFn, stop: threading.Event) -> tree.TreeBackupResult:
        return tree.write_tree_backup(
            context.store(),
            share_id=backup.share_id,
            backup_id=backup.id,
            source_dir=Path(source_dir),
            record=share_backup_record(backup),
            parent=parent,
            progress=progress,
            stop=stop,
            before_commit=still_creating,
            zstd_level=cfg.zstd_level,
        )

    async with data_slot():
        return await run_with_progress(
            work,
            model=ShareBackup,
            record_id=backup.id,
            label="share backup",
            still_owned=still_creating,
        )


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600, **STORAGE_TASK)
async def restore_tree_backup(
    backup: ShareBackup, target_dir: str, run_ids: tuple[str, ...]
) -> int:
    """Make the target tree equal to the backup, verifying every chunk; stops once the
    backup is no longer restoring by ``run_ids``."""

    def still_restoring() -> None:
        ownership.require("share_backup", backup.id, {ShareBackupStatus.RESTORING}, run_ids)

    def work(progress: ProgressFn, stop: threading.Event) -> int:
        return tree.restore_tree_backup(
            context.store(),
            share_id=backup.share_id,
            backup_id=backup.id,
            target_dir=Path(target_dir),
            progress=progress,
            stop=stop,
        )

    async with data_slot():
        return await run_with_progress(
            work,
            model=ShareBackup,
            record_id=backup.id,
            label="share restore",
            still_owned=still_restoring,
        )


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def delete_tree_backup(share_id: str, backup_id: str) -> int:
    """Delete a tree backup's manifest and the packs no other backup of the share
    references; idempotent."""
    return await asyncio.to_thread(
        tree.delete_tree_backup, context.store(), share_id=share_id, backup_id=backup_id
    )
