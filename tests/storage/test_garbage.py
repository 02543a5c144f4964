"""The store's garbage pass: uncommitted data no row reads goes after a grace period;
committed backups and anything a row reads are never touched."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from storage.format import write_backup
from storage.format.garbage import GarbageReport, collect_garbage, stored_backups
from storage.layout import manifest_key, segment_key
from storage.objects import ObjectStore, open_store

HOUR = 3600.0


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store(f"memory://garbage-{uuid.uuid4().hex}")
    return open_store(f"file://{tmp_path / 'store'}")


def _committed(store: ObjectStore, tmp_path: Path) -> str:
    backup_id = str(uuid.uuid4())
    source = tmp_path / f"{backup_id}.img"
    source.write_bytes(b"data" * 50_000)
    write_backup(
        store,
        backup_id=backup_id,
        source_path=source,
        record={"id": backup_id},
        block_size=64 * 1024,
        segment_size=128 * 1024,
    )
    return backup_id


def _uncommitted(store: ObjectStore) -> str:
    backup_id = str(uuid.uuid4())
    store.put(segment_key(backup_id, 0), b"left by a write whose row is gone")
    return backup_id


def _pass(
    store: ObjectStore, read_ids: set[str], *, later: float, dry: bool = False
) -> GarbageReport:
    listing = stored_backups(store)
    return collect_garbage(
        store,
        listing=listing,
        read_ids=read_ids,
        grace_seconds=24 * HOUR,
        now=time.time() + later,
        dry_run=dry,
    )


def test_garbage_is_reported_then_removed_after_the_grace_period(
    store: ObjectStore, tmp_path: Path
) -> None:
    kept, unowned, garbage, running = (
        _committed(store, tmp_path),
        _committed(store, tmp_path),
        _uncommitted(store),
        _uncommitted(store),  # a backup being written: its row reads it
    )
    read_ids = {kept, running}

    fresh = _pass(store, read_ids, later=HOUR)
    assert (fresh.pending, fresh.unowned, fresh.removed) == ([garbage], [unowned], [])

    dry = _pass(store, read_ids, later=25 * HOUR, dry=True)
    assert dry.removed == [garbage] and dry.objects_removed == 0
    assert store.exists(segment_key(garbage, 0))

    done = _pass(store, read_ids, later=25 * HOUR)
    assert done.removed == [garbage] and done.objects_removed == 1
    assert done.counts() == {"removed": 1, "pending": 0, "unowned": 1, "objects_removed": 1}
    assert not store.list(f"backups/{garbage}/")
    # Everything else is untouched: the unowned committed backup stays for a rebuild.
    for backup_id in (kept, unowned):
        assert store.exists(manifest_key(backup_id))
    assert store.exists(segment_key(running, 0))
    assert _pass(store, read_ids, later=25 * HOUR).removed == []  # idempotent
