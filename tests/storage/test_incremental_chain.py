"""Long incremental chains in format v1: scattered changes, mid-chain restores, growth."""

from __future__ import annotations

import os
import random
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from storage.format import Manifest, delete_backup_objects, restore_backup, write_backup
from storage.layout import backup_prefix, is_manifest_key
from storage.objects import ObjectStore, open_store
from storage.sources.block import create_volume_file

KIB = 1024
BS = 16 * KIB  # small blocks keep a 20-backup chain fast
SEG = 64 * KIB
BLOCKS = 96


class CountingStore:
    """An ObjectStore that counts reads per key (thread-safe: restores read in threads)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.url = inner.url
        self._inner = inner
        self._lock = threading.Lock()
        self.reads: Counter[str] = Counter()

    def _count(self, key: str) -> None:
        with self._lock:
            self.reads[key] += 1

    def put(self, key: str, data: bytes | bytearray) -> None:
        self._inner.put(key, data)

    def get(self, key: str) -> bytes:
        self._count(key)
        return self._inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self._count(key)
        return self._inner.get_range(key, start, length)

    def exists(self, key: str) -> bool:
        return self._inner.exists(key)

    def list(self, prefix: str) -> list[str]:
        return self._inner.list(prefix)

    def delete(self, key: str) -> None:
        self._inner.delete(key)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CountingStore:
    if request.param == "memory":
        return CountingStore(open_store(f"memory://chain-{uuid.uuid4().hex}"))
    return CountingStore(open_store(f"file://{tmp_path / 'store'}"))


def _write(store: CountingStore, source: Path, parent: Manifest | None) -> Manifest:
    result = write_backup(
        store,
        backup_id=str(uuid.uuid4()),
        source_path=source,
        record={"parent": parent.backup_id if parent else None},
        block_size=BS,
        segment_size=SEG,
        parent=parent,
    )
    return result.manifest


def _scatter(path: Path, rng: random.Random, writes: int) -> set[int]:
    """A few small writes at random places; the indices of the blocks they touched."""
    touched: set[int] = set()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        for _ in range(writes):
            length = rng.randrange(1, 3 * KIB)
            offset = rng.randrange(0, size - length)
            os.pwrite(f.fileno(), rng.randbytes(length), offset)
            touched.update(range(offset // BS, (offset + length - 1) // BS + 1))
    return touched


def _restore(store: CountingStore, backup_id: str, target: Path, size: int) -> bytes:
    create_volume_file(target, size)
    restore_backup(store, backup_id=backup_id, target_path=target)
    return target.read_bytes()


def test_chain_of_twenty_incrementals(store: CountingStore, tmp_path: Path) -> None:
    rng = random.Random(20)
    source = tmp_path / "vol.img"
    size = BLOCKS * BS + 777  # a short last block too
    create_volume_file(source, size)
    with open(source, "r+b") as f:
        os.pwrite(f.fileno(), rng.randbytes(40 * BS), 0)  # data, then holes, then data
        os.pwrite(f.fileno(), rng.randbytes(20 * BS), 60 * BS)
    chain = [_write(store, source, None)]
    snapshots: dict[int, bytes] = {}
    for n in range(1, 21):
        touched = _scatter(source, rng, writes=3)
        manifest = _write(store, source, chain[-1])
        # Only the touched blocks are stored again; the rest point into ancestors.
        assert manifest.stats["new_blocks"] == len(touched), n
        assert manifest.parent_id == chain[-1].backup_id
        chain.append(manifest)
        if n == 10:
            snapshots[10] = source.read_bytes()
    snapshots[20] = source.read_bytes()
    # Later backups reference segments of many ancestors, not only of their parent.
    assert len(chain[20].owners()) > 2
    assert chain[20].stored_bytes(chain[20].backup_id) < chain[0].stored_bytes() // 10

    store.reads.clear()
    assert _restore(store, chain[10].backup_id, tmp_path / "r10.img", size) == snapshots[10]
    store.reads.clear()
    assert _restore(store, chain[20].backup_id, tmp_path / "r20.img", size) == snapshots[20]
    manifests_read = [key for key in store.reads if is_manifest_key(key)]
    assert manifests_read == [f"backups/{chain[20].backup_id}/manifest"]
    assert store.reads[manifests_read[0]] == 1

    # Leaves first, every remaining backup still restores: nothing it needs went away.
    for manifest in reversed(chain[11:]):
        delete_backup_objects(store, backup_id=manifest.backup_id)
        assert store.list(backup_prefix(manifest.backup_id)) == []
    assert _restore(store, chain[10].backup_id, tmp_path / "again.img", size) == snapshots[10]


def test_incremental_of_a_grown_volume(store: CountingStore, tmp_path: Path) -> None:
    rng = random.Random(7)
    source = tmp_path / "vol.img"
    small = 10 * BS + 100
    create_volume_file(source, small)
    with open(source, "r+b") as f:
        os.pwrite(f.fileno(), rng.randbytes(small), 0)
    parent = _write(store, source, None)
    original = source.read_bytes()

    grown = 14 * BS + 5  # the volume was extended: 4 more blocks and a short tail
    os.truncate(source, grown)
    with open(source, "r+b") as f:
        os.pwrite(f.fileno(), rng.randbytes(BS), 12 * BS)
    child = _write(store, source, parent)
    assert (child.volume_size, child.block_count) == (grown, 15)
    # Blocks 0-9 are reused; the old short last block (now full) and block 12 are new;
    # 11, 13 and the tail are holes.
    assert (child.stats["reused_blocks"], child.stats["new_blocks"]) == (10, 2)
    assert child.stats["hole_blocks"] == 3
    assert _restore(store, child.backup_id, tmp_path / "c.img", grown) == source.read_bytes()
    assert _restore(store, parent.backup_id, tmp_path / "p.img", small) == original
