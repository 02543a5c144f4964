"""Prefect tasks of the snapshot flows; each wraps one storage call (flows/tasks.py rules)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows import context
from flows.retry import STORAGE_TASK
from flows.tasks import CATALOG_TASK
from storage import catalog
from storage.catalog import Snapshot
from storage.sources import snapshot as copies

log = logging.getLogger(__name__)


def temp_snapshot_path(backup_id: str) -> Path:
    """Where the temporary copy a forced backup of an in-use volume reads lives."""
    return context.settings().snapshots_dir / f"backup-{backup_id}.img"


# -- catalog ----------------------------------------------------------------------------


@task(**CATALOG_TASK)
def load_snapshot(snapshot_id: str) -> Snapshot:
    """Read a snapshot row; RecordNotFound if it is gone."""
    with context.session() as s:
        return catalog.get_snapshot(session=s, snapshot_id=snapshot_id)


@task(**CATALOG_TASK)
def finish_snapshot(snapshot_id: str, run_ids: tuple[str, ...] = ()) -> bool:
    """creating -> available; idempotent; False if this run no longer drives it."""
    with context.session() as s:
        return catalog.finish_snapshot(session=s, snapshot_id=snapshot_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def finish_snapshot_delete(snapshot_id: str, run_ids: tuple[str, ...] = ()) -> None:
    """Drop the deleted snapshot's row; idempotent; LostOwnership if another run drives it."""
    with context.session() as s:
        catalog.finish_snapshot_delete(session=s, snapshot_id=snapshot_id, run_ids=run_ids)


@task(**CATALOG_TASK)
def record_temp_snapshot(backup_id: str, path: str) -> None:
    """Note on the backup that a temporary copy may exist at `path`."""
    with context.session() as s:
        catalog.record_temp_snapshot(session=s, backup_id=backup_id, path=path)


@task(**CATALOG_TASK)
def forget_temp_snapshot(backup_id: str) -> None:
    """Clear the backup's temporary copy path once the file is gone; idempotent."""
    with context.session() as s:
        catalog.forget_temp_snapshot(session=s, backup_id=backup_id)


# -- files ------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, timeout_seconds=24 * 3600, **STORAGE_TASK)
async def copy_point_in_time(source: str, target: str) -> str:
    """Make `target` a point-in-time copy of `source` (reflink or sparse copy); idempotent."""
    return await asyncio.to_thread(copies.copy_point_in_time, Path(source), Path(target))


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
def remove_snapshot_file(path: str) -> bool:
    """Delete a snapshot copy (and a half-made one); idempotent."""
    return copies.remove_copy(Path(path))


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def sweep_temp_snapshots() -> int:
    """Remove the temporary copies no run uses any more (crashed, killed); how many rows."""
    swept = 0
    with context.session() as s:
        for backup in catalog.leftover_temp_snapshots(session=s):
            path = backup.temp_snapshot_path or ""
            copies.remove_copy(Path(path))
            catalog.forget_temp_snapshot(session=s, backup_id=backup.id)
            log.warning("backup %s: removed leftover temporary snapshot %s", backup.id, path)
            swept += 1
    return swept
