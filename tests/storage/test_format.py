"""Backup format v1: round trips, holes, checksums, incrementals, deletion, retries."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.errors import CorruptData, InvalidRequest, ObjectNotFound, TransientStorageError
from storage.faults import FaultyObjectStore, parse_fault_plan
from storage.format import (
    BackupResult,
    Manifest,
    delete_backup_objects,
    manifest_exists,
    read_manifest,
    restore_backup,
    write_backup,
)
from storage.format import backup as backup_module
from storage.format.digest import digest
from storage.format.manifest import MANIFEST_VERSION, PRELUDE, TRAILER_LEN
from storage.layout import backup_prefix, manifest_key
from storage.objects import ObjectStore, open_store
from storage.sources.block import create_volume_file

KIB = 1024
MIB = 1024 * KIB
BS = 64 * KIB  # small blocks and segments: many of each, in little time
SEG = 256 * KIB
RECORD = {"id": "r", "volume_id": "v", "size": 1, "nested": {"ok": [1, 2]}}


def _id() -> str:
    return str(uuid.uuid4())


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store(f"memory://format-{uuid.uuid4().hex}")
    return open_store(f"file://{tmp_path / 'store'}")


@pytest.fixture
def file_store(tmp_path: Path) -> ObjectStore:
    return open_store(f"file://{tmp_path / 'store'}")


def _text(rng: random.Random, n: int) -> bytes:
    words = [b"backup", b"volume", b"segment", b"manifest", b"hole", b"zstd", b"\n"]
    return b" ".join(rng.choice(words) for _ in range(n // 4))[:n]


def make_mixed_volume(path: Path, seed: int = 1) -> Path:
    """Random, text, written-zero and sparse regions; size not a multiple of the block size."""
    rng = random.Random(seed)
    size = 40 * BS + 12345
    create_volume_file(path, size)
    with open(path, "r+b") as f:
        fd = f.fileno()
        os.pwrite(fd, rng.randbytes(5 * BS + 100), 0)
        os.pwrite(fd, _text(rng, 7 * BS), 6 * BS)
        os.pwrite(fd, bytes(4 * BS), 14 * BS)  # written zeros: allocated, still holes
        os.pwrite(fd, rng.randbytes(3 * BS), 25 * BS)
        os.pwrite(fd, _text(rng, 12345), 40 * BS)  # the short last block
    return path


def _backup(
    store: ObjectStore, source: Path, backup_id: str | None = None, **kw: Any
) -> BackupResult:
    return write_backup(
        store,
        backup_id=backup_id or _id(),
        source_path=source,
        record=RECORD,
        block_size=BS,
        segment_size=SEG,
        **kw,
    )


def _restore(store: ObjectStore, backup_id: str, target: Path, size: int) -> Path:
    create_volume_file(target, size)
    assert restore_backup(store, backup_id=backup_id, target_path=target) == size
    return target


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_mixed_volume(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    size = source.stat().st_size
    result = _backup(store, source)
    m = result.manifest
    assert m.block_count == 41 and m.volume_size == size and m.record == RECORD
    assert result.new_blocks + result.reused_blocks + result.hole_blocks == 41
    assert result.hole_blocks == 41 - 6 - 7 - 3 - 1
    assert len(m.segments) > 1  # the bound on segment size was applied
    assert all(ref.size <= SEG for ref in m.segments)
    keys = store.list(backup_prefix(m.backup_id))
    assert result.object_count == len(keys) == len(m.segments) + 1
    restored = _restore(store, m.backup_id, tmp_path / "dst.img", size)
    assert restored.read_bytes() == source.read_bytes()
    assert read_manifest(store, m.backup_id) == m


def test_zero_blocks_cost_no_storage(file_store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "zeros.img"
    source.write_bytes(bytes(16 * BS))  # written, not sparse
    result = _backup(file_store, source)
    assert (result.new_blocks, result.hole_blocks) == (0, 16)
    assert file_store.list(backup_prefix(result.manifest.backup_id)) == [
        manifest_key(result.manifest.backup_id)
    ]
    assert result.stored_bytes == len(file_store.get(manifest_key(result.manifest.backup_id)))
    assert result.stored_bytes < 1024


def test_no_stored_frame_holds_a_zero_block(store: ObjectStore, tmp_path: Path) -> None:
    result = _backup(store, make_mixed_volume(tmp_path / "src.img"))
    m = result.manifest
    zero_digests = {digest(m.algorithm, bytes(n)) for n in (BS, m.block_length(40))}
    for entry in m.iter_blocks():
        assert entry.is_hole or entry.digest not in zero_digests
    assert m.stats["data_bytes"] == (6 + 7 + 3) * BS + 12345


def test_restored_file_is_sparse(file_store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "src.img"
    create_volume_file(source, 128 * BS)
    with open(source, "r+b") as f:
        os.pwrite(f.fileno(), os.urandom(BS), 70 * BS)
    target = tmp_path / "dst.img"
    target.write_bytes(os.urandom(128 * BS))  # old content everywhere: must become holes
    backup_id = _backup(file_store, source).manifest.backup_id
    assert restore_backup(file_store, backup_id=backup_id, target_path=target) == 128 * BS
    assert target.read_bytes() == source.read_bytes()
    assert os.stat(target).st_blocks * 512 <= 2 * BS


def _flip(store: ObjectStore, key: str, position: int) -> None:
    data = bytearray(store.get(key))
    data[position] ^= 0x40
    store.put(key, bytes(data))


def test_flipped_byte_in_a_segment_is_corrupt(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    m = _backup(store, source).manifest
    _flip(store, m.segments[0].key, m.segments[0].size // 2)
    create_volume_file(tmp_path / "dst.img", source.stat().st_size)
    with pytest.raises(CorruptData):
        restore_backup(store, backup_id=m.backup_id, target_path=tmp_path / "dst.img")


@pytest.mark.parametrize("position", [0, 9, PRELUDE.size + 3, -40, -1])
def test_flipped_byte_in_the_manifest_is_corrupt(
    store: ObjectStore, tmp_path: Path, position: int
) -> None:
    m = _backup(store, make_mixed_volume(tmp_path / "src.img")).manifest
    _flip(store, manifest_key(m.backup_id), position)
    with pytest.raises(CorruptData):
        read_manifest(store, m.backup_id)


@pytest.mark.parametrize("keep", [0, 10, PRELUDE.size + TRAILER_LEN, 0.5, -1])
def test_truncated_manifest_is_corrupt(store: ObjectStore, tmp_path: Path, keep: float) -> None:
    m = _backup(store, make_mixed_volume(tmp_path / "src.img")).manifest
    data = store.get(manifest_key(m.backup_id))
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    store.put(manifest_key(m.backup_id), data[:cut])
    with pytest.raises(CorruptData):
        read_manifest(store, m.backup_id)


def test_unknown_manifest_version_is_rejected(store: ObjectStore, tmp_path: Path) -> None:
    m = _backup(store, make_mixed_volume(tmp_path / "src.img")).manifest
    data = bytearray(m.to_bytes()[:-TRAILER_LEN])
    data[8:10] = (MANIFEST_VERSION + 1).to_bytes(2, "little")
    forged = bytes(data) + hashlib.sha256(data).digest()  # a valid checksum, a newer version
    with pytest.raises(CorruptData, match="version"):
        Manifest.from_bytes(forged)


def test_manifest_of_another_backup_is_corrupt(store: ObjectStore, tmp_path: Path) -> None:
    m = _backup(store, make_mixed_volume(tmp_path / "src.img")).manifest
    other = _id()
    store.put(manifest_key(other), store.get(manifest_key(m.backup_id)))
    with pytest.raises(CorruptData):
        read_manifest(store, other)


def _change_blocks(path: Path) -> None:
    """Change two data blocks, zero one, and write data into a former hole."""
    with open(path, "r+b") as f:
        fd = f.fileno()
        os.pwrite(fd, b"changed" * 100, 2 * BS + 5)
        os.pwrite(fd, bytes(BS), 6 * BS)  # text block becomes a hole
        os.pwrite(fd, b"new data in a hole", 20 * BS)
        os.pwrite(fd, b"tail", 40 * BS)


def test_incremental_stores_only_changed_blocks(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    original = source.read_bytes()
    parent = _backup(store, source)
    _change_blocks(source)
    child = _backup(store, source, parent=parent.manifest)
    cm = child.manifest
    assert cm.parent_id == parent.manifest.backup_id
    assert child.new_blocks == 3  # blocks 2, 20 and the last
    assert child.hole_blocks == parent.hole_blocks + 1 - 1
    assert child.reused_blocks == 41 - child.new_blocks - child.hole_blocks
    assert cm.owners() == {cm.backup_id, parent.manifest.backup_id}
    assert cm.stored_bytes() < parent.manifest.stored_bytes() // 4
    assert child.stored_bytes < parent.stored_bytes // 4
    # Each backup restores from its own manifest alone.
    size = source.stat().st_size
    assert _restore(store, cm.backup_id, tmp_path / "c.img", size).read_bytes() == (
        source.read_bytes()
    )
    pid = parent.manifest.backup_id
    assert _restore(store, pid, tmp_path / "p.img", size).read_bytes() == original


def test_incremental_of_an_incremental_references_the_grandparent(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    first = _backup(store, source).manifest
    _change_blocks(source)
    second = _backup(store, source, parent=first).manifest
    with open(source, "r+b") as f:
        os.pwrite(f.fileno(), b"third", 30 * BS)
    third = _backup(store, source, parent=second).manifest
    assert third.owners() == {first.backup_id, second.backup_id, third.backup_id}
    size = source.stat().st_size
    restored = _restore(store, third.backup_id, tmp_path / "t.img", size)
    assert restored.read_bytes() == source.read_bytes()


def test_corrupt_ancestor_frame_is_detected_through_a_ranged_read(
    file_store: ObjectStore, tmp_path: Path
) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    parent = _backup(file_store, source).manifest
    _change_blocks(source)
    child = _backup(file_store, source, parent=parent).manifest
    reused = next(e for e in child.iter_blocks() if not e.is_hole and e.index == 0)
    ref = child.segments[reused.segment]
    assert ref.owner == parent.backup_id
    _flip(file_store, ref.key, reused.offset + reused.length // 2)
    create_volume_file(tmp_path / "dst.img", source.stat().st_size)
    with pytest.raises(CorruptData):
        restore_backup(file_store, backup_id=child.backup_id, target_path=tmp_path / "dst.img")


def test_delete_removes_only_the_backups_own_prefix(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    parent = _backup(store, source).manifest
    _change_blocks(source)
    child = _backup(store, source, parent=parent).manifest
    parent_keys = store.list(backup_prefix(parent.backup_id))
    child_keys = store.list(backup_prefix(child.backup_id))
    assert delete_backup_objects(store, backup_id=child.backup_id) == len(child_keys)
    assert store.list(backup_prefix(parent.backup_id)) == parent_keys
    assert store.list("") == parent_keys
    size = source.stat().st_size
    _restore(store, parent.backup_id, tmp_path / "p.img", size)


def test_deleting_a_parent_breaks_its_child(store: ObjectStore, tmp_path: Path) -> None:
    """Documented rule: children reference ancestor segments, so delete leaves first."""
    source = make_mixed_volume(tmp_path / "src.img")
    parent = _backup(store, source).manifest
    _change_blocks(source)
    child = _backup(store, source, parent=parent).manifest
    delete_backup_objects(store, backup_id=parent.backup_id)
    create_volume_file(tmp_path / "dst.img", source.stat().st_size)
    with pytest.raises(ObjectNotFound):
        restore_backup(store, backup_id=child.backup_id, target_path=tmp_path / "dst.img")


def test_delete_is_idempotent(store: ObjectStore, tmp_path: Path) -> None:
    result = _backup(store, make_mixed_volume(tmp_path / "src.img"))
    backup_id = result.manifest.backup_id
    assert delete_backup_objects(store, backup_id=backup_id) == result.object_count
    assert delete_backup_objects(store, backup_id=backup_id) == 0
    assert not manifest_exists(store, backup_id)
    with pytest.raises(ObjectNotFound):
        read_manifest(store, backup_id)
    assert store.list("") == []


def test_retry_after_an_injected_failure_succeeds(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    faulty = FaultyObjectStore(store, parse_fault_plan('{"put": {"after": 1, "transient": 1}}'))
    backup_id = _id()
    with pytest.raises(TransientStorageError):
        _backup(faulty, source, backup_id)
    assert not manifest_exists(store, backup_id)  # nothing committed
    result = _backup(faulty, source, backup_id)
    assert manifest_exists(store, backup_id)
    keys = store.list(backup_prefix(backup_id))
    assert len(keys) == result.object_count  # same deterministic keys: no leftovers
    restored = _restore(store, backup_id, tmp_path / "dst.img", source.stat().st_size)
    assert restored.read_bytes() == source.read_bytes()


class _CountingStore:
    """Counts puts per key on the way to a real store."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.url, self.puts = inner, inner.url, Counter[str]()

    def put(self, key: str, data: bytes | bytearray) -> None:
        self.puts[key] += 1
        self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_retry_resumes_without_resending_stored_segments(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    segments = _backup(store, source).object_count - 1
    assert segments >= 3
    counting = _CountingStore(store)
    plan = parse_fault_plan(f'{{"put": {{"after": {segments - 1}, "transient": 1}}}}')
    backup_id = _id()
    with pytest.raises(TransientStorageError):  # the last segment's put fails
        _backup(FaultyObjectStore(counting, plan), source, backup_id)  # type: ignore[arg-type]
    first = Counter(counting.puts)
    assert len(first) == segments - 1
    _backup(counting, source, backup_id)  # type: ignore[arg-type]
    resent = {k for k, n in counting.puts.items() if n > first.get(k, 0) and "/segments/" in k}
    assert len(resent) == 1  # only the segment that failed; the rest were not sent again
    restored = _restore(store, backup_id, tmp_path / "dst.img", source.stat().st_size)
    assert restored.read_bytes() == source.read_bytes()


def test_retry_after_the_source_changed_replaces_stale_segments(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    segments = _backup(store, source).object_count - 1
    plan = parse_fault_plan(f'{{"put": {{"after": {segments}, "permanent": 1}}}}')
    backup_id = _id()
    with pytest.raises(Exception, match="injected fault"):  # every segment, no manifest
        _backup(FaultyObjectStore(store, plan), source, backup_id)
    with open(source, "r+b") as f:  # the volume changes before the rerun
        f.write(os.urandom(4096))
    _backup(store, source, backup_id)
    restored = _restore(store, backup_id, tmp_path / "dst.img", source.stat().st_size)
    assert restored.read_bytes() == source.read_bytes()


def test_failed_manifest_write_leaves_garbage_that_delete_removes(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    segments = _backup(store, source).object_count - 1
    plan = parse_fault_plan(f'{{"put": {{"after": {segments}, "permanent": 1}}}}')
    backup_id = _id()
    with pytest.raises(Exception, match="injected fault"):
        _backup(FaultyObjectStore(store, plan), source, backup_id)
    assert not manifest_exists(store, backup_id)
    assert len(store.list(backup_prefix(backup_id))) == segments
    assert delete_backup_objects(store, backup_id=backup_id) == segments
    assert store.list(backup_prefix(backup_id)) == []


def test_identical_blocks_are_stored_once(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "dup.img"
    block = os.urandom(BS)
    source.write_bytes(block * 4 + os.urandom(BS))
    result = _backup(store, source)
    assert (result.new_blocks, result.reused_blocks) == (2, 3)
    restored = _restore(store, result.manifest.backup_id, tmp_path / "d.img", 5 * BS)
    assert restored.read_bytes() == source.read_bytes()


def test_empty_volume(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "empty.img"
    source.write_bytes(b"")
    m = _backup(store, source).manifest
    assert m.block_count == 0
    assert restore_backup(store, backup_id=m.backup_id, target_path=source) == 0


def test_parent_with_another_block_size_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    parent = _backup(store, source).manifest
    with pytest.raises(ValueError):
        write_backup(
            store,
            backup_id=_id(),
            source_path=source,
            record={},
            block_size=2 * BS,
            segment_size=SEG,
            parent=parent,
        )


@pytest.mark.parametrize(("block_size", "segment_size"), [(1000, SEG), (BS, BS // 2), (0, SEG)])
def test_bad_geometry_is_refused(tmp_path: Path, block_size: int, segment_size: int) -> None:
    store = open_store(f"memory://geometry-{uuid.uuid4().hex}")
    with pytest.raises(ValueError):
        write_backup(
            store,
            backup_id=_id(),
            source_path=tmp_path,
            record={},
            block_size=block_size,
            segment_size=segment_size,
        )


def test_restore_into_a_smaller_target_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    m = _backup(store, source).manifest
    create_volume_file(tmp_path / "small.img", m.volume_size - 1)
    with pytest.raises(InvalidRequest):
        restore_backup(store, backup_id=m.backup_id, target_path=tmp_path / "small.img")


def test_restore_into_a_larger_target(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    m = _backup(store, source).manifest
    target = _restore(store, m.backup_id, tmp_path / "big.img", m.volume_size)
    with open(target, "r+b") as f:
        f.truncate(m.volume_size + 3 * BS)
    restore_backup(store, backup_id=m.backup_id, target_path=target)
    assert target.read_bytes() == source.read_bytes() + bytes(3 * BS)


def test_progress_is_monotonic_and_ends_at_total(store: ObjectStore, tmp_path: Path) -> None:
    source = make_mixed_volume(tmp_path / "src.img")
    calls: list[tuple[int, int]] = []
    m = _backup(store, source, progress=lambda done, total: calls.append((done, total))).manifest
    assert calls[-1] == (m.volume_size, m.volume_size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    create_volume_file(tmp_path / "dst.img", m.volume_size)
    restore_backup(
        store,
        backup_id=m.backup_id,
        target_path=tmp_path / "dst.img",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (m.volume_size, m.volume_size)


def test_manifest_bytes_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    m = _backup(store, make_mixed_volume(tmp_path / "src.img")).manifest
    data = m.to_bytes()
    assert Manifest.from_bytes(data) == m
    assert Manifest.from_bytes(data).to_bytes() == data
    assert data[:8] == b"SAFEHOLD"
    assert len(data) < 41 * 44 + 1024  # binary tables, compressed: stays compact


@pytest.mark.s3
def test_round_trip_and_delete_on_s3(
    s3_server: tuple[str, str], s3_options: dict[str, Any], tmp_path: Path
) -> None:
    store = open_store(f"s3://{s3_server[1]}/format-{uuid.uuid4().hex}", s3_options)
    source = make_mixed_volume(tmp_path / "src.img")
    parent = _backup(store, source)
    _change_blocks(source)
    child = _backup(store, source, parent=parent.manifest).manifest
    restored = _restore(store, child.backup_id, tmp_path / "dst.img", source.stat().st_size)
    assert _sha(restored) == _sha(source)
    assert delete_backup_objects(store, backup_id=child.backup_id) >= 2
    assert delete_backup_objects(store, backup_id=parent.manifest.backup_id) == (
        parent.object_count
    )
    assert store.list("") == []


def test_a_source_grown_after_measurement_still_commits_a_readable_backup(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_mixed_volume(tmp_path / "vol.img")
    original = source.read_bytes()
    measure = backup_module.device_size

    def measure_then_grow(path: Path) -> int:
        size = measure(path)
        with open(path, "ab") as f:  # the source grows right after the writer measured it
            f.write(os.urandom(3 * BS))
        return size

    monkeypatch.setattr(backup_module, "device_size", measure_then_grow)
    result = _backup(store, source)
    manifest = read_manifest(store, result.manifest.backup_id)  # verifies: sizes agree
    assert manifest.volume_size == len(original)
    restored = _restore(store, manifest.backup_id, tmp_path / "out.img", len(original))
    assert restored.read_bytes() == original


def test_a_missing_segment_leaves_the_restore_target_as_it_was(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = make_mixed_volume(tmp_path / "vol.img")
    result = _backup(store, source)
    target = tmp_path / "restore" / "target.img"
    target.parent.mkdir()
    old = os.urandom(source.stat().st_size)
    target.write_bytes(old)
    store.delete(result.manifest.segments[-1].key)
    with pytest.raises(ObjectNotFound):
        restore_backup(store, backup_id=result.manifest.backup_id, target_path=target)
    assert target.read_bytes() == old
    assert [p.name for p in target.parent.iterdir()] == ["target.img"]  # no staging left


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB loop block device full of 0xff bytes (needs root and the loop driver)."""
    image = tmp_path / "loop.img"
    image.write_bytes(b"\xff" * 4 * MIB)
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True
    )
    if attached.returncode != 0:
        pytest.skip(f"no loop device here: {attached.stderr.strip()}")
    device = Path(attached.stdout.strip())
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", str(device)], check=False)


def test_restore_onto_a_larger_block_device_zeroes_its_tail(
    store: ObjectStore, tmp_path: Path, loop_device: Path
) -> None:
    source = tmp_path / "vol.img"
    source.write_bytes(os.urandom(MIB + 5 * BS))
    result = _backup(store, source)
    restore_backup(store, backup_id=result.manifest.backup_id, target_path=loop_device)
    with open(loop_device, "rb") as f:
        restored = f.read()
    assert restored == source.read_bytes() + bytes(4 * MIB - len(source.read_bytes()))
