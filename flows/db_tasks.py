"""Prefect tasks of database flows: each wraps one catalog or storage call with its retry
policy. Credentials never travel as parameters: a task finds the datastore by type in
the environment of the process it runs in."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows import context, ownership
from flows.limits import data_slot
from flows.progress import run_with_progress
from flows.retry import STORAGE_TASK
from flows.tasks import CATALOG_TASK
from storage.catalog import DbBackup, DbBackupStatus, DbInstance, db_backups, db_instances
from storage.catalog.records import db_backup_record
from storage.format import ProgressFn, tree
from storage.format.namespace import NamespacedStore
from storage.objects import ObjectStore
from storage.sources.databases import DatabaseNotFound, Datastore, configured_datastores

SPACE = "databases"
# Appended rows change little of a dump: smaller chunks than a share's store less of an
# append (docs/format.md "Stream backups").
CHUNKING = tree.ChunkParams.for_average(64 * 1024)
PACK_SIZE = 16 * 1024 * 1024


def datastore(kind: str) -> Datastore:
    """The configured datastore of ``kind`` in this process's environment; KeyError if
    the operator removed it."""
    return configured_datastores(os.environ, context.settings().databases_dir)[kind]


def store() -> ObjectStore:
    """The backup store's `databases/` namespace."""
    return NamespacedStore(context.store(), SPACE)


# -- catalog ----------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def claim_instance(
    instance_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]
) -> DbInstance:
    """The instance this run drives; LostOwnership (never retried) otherwise."""
    instance: DbInstance = ownership.require("db_instance", instance_id, statuses, run_ids)
    return instance


@task(cache_policy=NO_CACHE)
def claim_db_backup(backup_id: str, statuses: frozenset[str], run_ids: tuple[str, ...]) -> DbBackup:
    """The backup this run drives; LostOwnership (never retried) otherwise."""
    backup: DbBackup = ownership.require("db_backup", backup_id, statuses, run_ids)
    return backup


@task(cache_policy=NO_CACHE)
def start_db_backup(backup_id: str, run_ids: tuple[str, ...]) -> DbBackup:
    """NEW -> BUILDING by this run; LostOwnership otherwise."""
    with context.session() as s:
        return db_backups.start_db_backup(session=s, backup_id=backup_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def load_instance(instance_id: str) -> DbInstance:
    """Read an instance row; RecordNotFound if it is gone."""
    with context.session() as s:
        return db_instances.get_instance(session=s, instance_id=instance_id)


@task(**CATALOG_TASK)
def load_db_backup(backup_id: str) -> DbBackup:
    """Read a backup row; RecordNotFound if it is gone."""
    with context.session() as s:
        return db_backups.get_db_backup(session=s, backup_id=backup_id)


@task(**CATALOG_TASK)
def finish_build(instance_id: str, used_bytes: int, run_ids: tuple[str, ...]) -> bool:
    """BUILD -> ACTIVE; idempotent; False when settled elsewhere."""
    with context.session() as s:
        return db_instances.finish_build(
            session=s, instance_id=instance_id, used_bytes=used_bytes, run_ids=run_ids
        )


@task(**CATALOG_TASK)
def delete_instance_row(instance_id: str, run_ids: tuple[str, ...]) -> None:
    """Drop a shut-down instance's row; idempotent."""
    with context.session() as s:
        db_instances.delete_instance_row(session=s, instance_id=instance_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def finish_db_backup(backup_id: str, result: dict[str, Any], run_ids: tuple[str, ...]) -> bool:
    """BUILDING -> COMPLETED, instance released; idempotent; False when settled elsewhere."""
    with context.session() as s:
        return db_backups.finish_db_backup(
            session=s, backup_id=backup_id, result=result, run_ids=run_ids
        )


@task(**CATALOG_TASK)
def note_used_bytes(instance_id: str, used_bytes: int) -> None:
    """Record the database's size as measured by the last backup."""
    with context.session() as s:
        db_instances.set_used_bytes(session=s, instance_id=instance_id, used_bytes=used_bytes)


@task(**CATALOG_TASK)
def delete_db_backup_row(backup_id: str) -> None:
    """Drop a deleted backup's row; idempotent."""
    with context.session() as s:
        db_backups.delete_db_backup_row(session=s, backup_id=backup_id)


@task(**CATALOG_TASK)
def subtree_ids(backup_id: str) -> list[str]:
    """The backup and its descendants, leaves first."""
    with context.session() as s:
        return [row.id for row in db_backups.subtree(session=s, backup_id=backup_id)]


@task(**CATALOG_TASK)
def stop_cascade(failed_id: str, remaining: list[str], reason: str) -> None:
    """The cascade stopped at ``failed_id``: it is DELETE_FAILED with the reason; the
    backups not reached yet go back to COMPLETED (their data is untouched)."""
    with context.session() as s:
        db_backups.stop_delete(session=s, failed_id=failed_id, untouched=remaining, reason=reason)


# -- databases ----------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def create_database(kind: str, name: str) -> None:
    """Create the instance's empty database; a rerun finding it already made is fine."""
    target = datastore(kind)
    if not target.exists(name):
        target.create_database(name)


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def require_database(kind: str, name: str) -> None:
    """DatabaseNotFound unless a registered database is (still) on its server."""
    if not datastore(kind).exists(name):
        raise DatabaseNotFound(f"database {name} is not on the {kind} server")


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def drop_database(kind: str, name: str) -> None:
    """Drop the instance's database; idempotent."""
    datastore(kind).drop_database(name)


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def used_bytes(kind: str, name: str) -> int:
    """The database's size on its server."""
    return datastore(kind).used_bytes(name)


# -- backup data ----------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def read_stream_manifest(owner_id: str, backup_id: str) -> tree.TreeManifest:
    """Read and verify a database backup's manifest; ObjectNotFound, CorruptData."""
    return await asyncio.to_thread(
        tree.read_tree_manifest, store(), share_id=owner_id, backup_id=backup_id
    )


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600, retries=1, retry_delay_seconds=2)
async def write_db_backup(
    backup: DbBackup,
    instance: DbInstance,
    parent: tree.TreeManifest | None,
    run_ids: tuple[str, ...],
) -> tree.StreamBackupResult:
    """Dump the database with its own online tool, streamed into chunks (only what
    ``parent`` lacks is stored), and commit the manifest; stops once the backup is no
    longer BUILDING by ``run_ids``. DumpFailed/ServerUnavailable end it (one retry)."""
    cfg = context.settings()

    def still_building() -> None:
        ownership.require("db_backup", backup.id, {DbBackupStatus.BUILDING}, run_ids)

    def work(progress: ProgressFn, stop: threading.Event) -> tree.StreamBackupResult:
        with datastore(instance.datastore).dump(instance.database) as stream:
            return tree.write_stream_backup(
                store(),
                owner_id=backup.owner_id,
                backup_id=backup.id,
                stream=stream,
                record=db_backup_record(backup),
                parent=parent,
                params=CHUNKING,
                zstd_level=cfg.zstd_level,
                pack_size=PACK_SIZE,
                progress=progress,
                stop=stop,
            )

    async with data_slot():
        return await run_with_progress(
            work,
            model=DbBackup,
            record_id=backup.id,
            label="database backup",
            still_owned=still_building,
        )


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600)
async def restore_database(instance: DbInstance, source: DbBackup) -> None:
    """Load a backup (any point of a chain, directly) into the instance's new database
    with the datastore's own tool, verifying every chunk."""

    def chunks() -> Iterator[bytes]:
        return tree.iter_stream(store(), owner_id=source.owner_id, backup_id=source.id)

    async with data_slot():
        await asyncio.to_thread(datastore(instance.datastore).restore, instance.database, chunks())


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def delete_stream_backup(owner_id: str, backup_id: str) -> int:
    """Delete a database backup's manifest and the packs no other backup of the instance
    references; idempotent."""
    return await asyncio.to_thread(
        tree.delete_tree_backup, store(), share_id=owner_id, backup_id=backup_id
    )
