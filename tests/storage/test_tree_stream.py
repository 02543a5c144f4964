"""Stream backups: byte-identical round trips, small incrementals, corruption, stop, pipes."""

from __future__ import annotations

import io
import os
import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.errors import CorruptData, ObjectNotFound, Stopped, TransientStorageError
from storage.format.namespace import NamespacedStore
from storage.format.tree import (
    DATABASE_CHUNKING,
    StreamBackupResult,
    TreeManifest,
    delete_tree_backup,
    iter_stream,
    read_tree_manifest,
    tree_manifest_exists,
    write_stream_backup,
)
from storage.format.tree import stream as stream_module
from storage.format.tree.chunking import ChunkParams, chunker
from storage.format.tree.packs import PACK_HEADER
from storage.format.tree.stream import ByteStream
from storage.layout import pack_key
from storage.objects import ObjectStore, open_store
from tests.storage.test_tree_support import KIB, MIB, back_up

OWNER = "instance-1"
SMALL = ChunkParams.for_average(4 * KIB)  # min 1 KiB, max 16 KiB
PACK = 64 * KIB


@pytest.fixture
def inner() -> ObjectStore:
    return open_store(f"memory://stream-{uuid.uuid4().hex}")


@pytest.fixture(params=["plain", "namespaced"])
def store(request: pytest.FixtureRequest, inner: ObjectStore) -> ObjectStore:
    """The memory store itself, and the ``databases/`` view over it."""
    if request.param == "plain":
        return inner
    return NamespacedStore(inner, "databases")


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def _dump_like(size: int, seed: int = 2) -> bytes:
    """Compressible text with varying numbers, like the rows of a SQL dump."""
    rng = random.Random(seed)
    lines = []
    total = 0
    while total < size:
        line = f"{rng.randrange(10**9)}\tname-{rng.randrange(10**4)}\t2026-06-11\t{rng.random()}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def _write(
    store: ObjectStore,
    data: bytes | ByteStream,
    backup_id: str,
    parent: TreeManifest | None = None,
    **kw: Any,
) -> StreamBackupResult:
    """write_stream_backup with small test chunks and packs unless told otherwise."""
    kw.setdefault("params", SMALL)
    kw.setdefault("pack_size", PACK)
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    return write_stream_backup(
        store,
        owner_id=OWNER,
        backup_id=backup_id,
        stream=stream,
        record={"id": backup_id, "kind": "database"},
        parent=parent,
        **kw,
    )


def _read(store: ObjectStore, backup_id: str) -> bytes:
    return b"".join(iter_stream(store, owner_id=OWNER, backup_id=backup_id))


def _manifest(store: ObjectStore, backup_id: str) -> TreeManifest:
    return read_tree_manifest(store, share_id=OWNER, backup_id=backup_id)


def _chunk_lengths(manifest: TreeManifest) -> list[int]:
    """The raw lengths of the dump's chunks, in stream order."""
    indices = stream_module.stream_chunks(manifest)
    return [manifest.chunk(index).raw_len for index in indices]


@pytest.mark.parametrize(
    ("size", "read_size"),
    [
        (0, 4 * KIB),
        (1, 4 * KIB),
        (700, 4 * KIB),  # less than the minimum chunk
        (3 * KIB, 4 * KIB),  # less than one average chunk
        (16 * KIB, 16 * KIB),  # exactly one buffer and one maximum chunk
        (200 * KIB + 3, 10_001),  # many buffers, boundaries inside chunks
        (300 * KIB, 777),  # buffers smaller than the minimum chunk
        (600 * KIB, stream_module.READ_SIZE),  # the default: one buffer
    ],
)
def test_round_trip_is_byte_identical_and_cut_as_one_buffer(
    store: ObjectStore, size: int, read_size: int
) -> None:
    data = _random(size)
    result = _write(store, data, "b1", read_size=read_size)
    assert _read(store, "b1") == data
    assert result.size == size
    manifest = _manifest(store, "b1")
    # Carrying each buffer's tail makes the cuts exactly those of the whole stream at once.
    assert _chunk_lengths(manifest) == [cut.length for cut in chunker(SMALL).cut_buf(data)]
    assert result.chunks == len(_chunk_lengths(manifest))
    assert result.new_chunks == manifest.chunk_count
    assert manifest.size_bytes == size
    assert result.stored_bytes == sum(manifest.pack_sizes)
    assert result.manifest_bytes == manifest.manifest_bytes


def test_compressible_streams_are_stored_compressed(store: ObjectStore) -> None:
    data = _dump_like(2 * MIB)
    result = _write(store, data, "b1", read_size=100_000)
    assert _read(store, "b1") == data
    assert result.stored_bytes < len(data) // 2


def test_repeated_content_is_stored_once(store: ObjectStore) -> None:
    block = _random(64 * KIB)
    data = block * 8 + b"tail"
    result = _write(store, data, "b1", read_size=50_000)
    assert _read(store, "b1") == data
    assert result.stored_bytes < 2 * len(block)
    assert result.new_chunks < result.chunks


def test_keys_of_the_namespaced_store_live_under_databases(inner: ObjectStore) -> None:
    view = NamespacedStore(inner, "databases")
    _write(view, _random(100 * KIB), "b1")
    keys = inner.list("")
    assert keys and all(key.startswith(f"databases/{OWNER}/") for key in keys)
    assert f"databases/{OWNER}/manifests/b1" in keys
    assert f"databases/{OWNER}/packs/b1-000000" in keys


def test_an_append_of_two_percent_stores_little_with_the_database_default(
    store: ObjectStore,
) -> None:
    full = _random(8 * MIB)
    first = _write(store, full, "b1", params=DATABASE_CHUNKING, pack_size=MIB)
    grown = full + _random(len(full) // 50, seed=9)
    second = _write(
        store, grown, "b2", _manifest(store, "b1"), params=DATABASE_CHUNKING, pack_size=MIB
    )
    assert second.stored_bytes < first.stored_bytes // 10
    assert second.new_chunks < 10
    assert _read(store, "b2") == grown
    assert _read(store, "b1") == full


def test_a_modified_middle_stores_about_that_region(store: ObjectStore) -> None:
    full = _random(4 * MIB)
    _write(store, full, "b1", pack_size=MIB)
    region = 64 * KIB
    start = 2 * MIB + 123
    changed = full[:start] + _random(region, seed=5) + full[start + region :]
    result = _write(store, changed, "b2", _manifest(store, "b1"), pack_size=MIB)
    # The region plus at most the chunks it shares with its neighbours (max 16 KiB each).
    assert region <= result.stored_bytes <= region + 4 * SMALL.max
    assert _read(store, "b2") == changed


def test_an_insertion_shifts_no_more_than_a_few_chunks(store: ObjectStore) -> None:
    full = _random(2 * MIB)
    _write(store, full, "b1", pack_size=MIB)
    shifted = full[: MIB + 7] + b"inserted row\n" + full[MIB + 7 :]
    result = _write(store, shifted, "b2", _manifest(store, "b1"), pack_size=MIB)
    assert result.stored_bytes <= 4 * SMALL.max
    assert _read(store, "b2") == shifted


def test_every_backup_of_a_chain_restores_directly(store: ObjectStore) -> None:
    versions = [_random(300 * KIB)]
    versions.append(versions[0] + _random(20 * KIB, seed=3))
    versions.append(versions[1][: 100 * KIB] + _random(10 * KIB, seed=4) + versions[1][100 * KIB :])
    parent = None
    for n, data in enumerate(versions):
        _write(store, data, f"b{n}", parent, read_size=30_000)
        parent = _manifest(store, f"b{n}")
    for n, data in enumerate(versions):
        assert _read(store, f"b{n}") == data


def test_a_corrupted_pack_byte_fails_iteration_naming_the_backup(store: ObjectStore) -> None:
    _write(store, _random(100 * KIB), "b1")
    key = pack_key(OWNER, "b1", 0)
    data = bytearray(store.get(key))
    data[PACK_HEADER.size + 100] ^= 0x01
    store.put(key, bytes(data))
    with pytest.raises(CorruptData, match="b1"):
        _read(store, "b1")


def test_a_corrupted_compressed_chunk_fails_iteration(store: ObjectStore) -> None:
    _write(store, _dump_like(200 * KIB), "b1")
    key = pack_key(OWNER, "b1", 0)
    data = bytearray(store.get(key))
    data[len(data) // 2] ^= 0x10
    store.put(key, bytes(data))
    with pytest.raises(CorruptData, match="stream backup b1"):
        _read(store, "b1")


def test_a_missing_manifest_or_pack_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        iter_stream(store, owner_id=OWNER, backup_id="nope")
    _write(store, _random(100 * KIB), "b1")
    store.delete(pack_key(OWNER, "b1", 1))
    with pytest.raises(ObjectNotFound):
        _read(store, "b1")


def test_a_share_backup_is_not_a_stream(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a").write_bytes(b"a")
    (source / "dump").write_bytes(b"b")
    back_up(store, source, "t1", share_id=OWNER)
    with pytest.raises(CorruptData, match="not a stream backup"):
        iter_stream(store, owner_id=OWNER, backup_id="t1")


class _StopAfter:
    """A stream that sets ``stop`` once ``after`` bytes were read (then keeps giving)."""

    def __init__(self, data: bytes, stop: threading.Event, after: int) -> None:
        self._data = io.BytesIO(data)
        self._stop = stop
        self._after = after

    def read(self, size: int = -1, /) -> bytes:
        data = self._data.read(size)
        if self._data.tell() >= self._after:
            self._stop.set()
        return data


def test_a_stop_mid_way_writes_no_manifest(store: ObjectStore) -> None:
    stop = threading.Event()
    stream = _StopAfter(_random(MIB), stop, after=300 * KIB)
    with pytest.raises(Stopped):
        _write(store, stream, "b1", stop=stop, read_size=64 * KIB)
    assert not tree_manifest_exists(store, share_id=OWNER, backup_id="b1")
    assert store.list("shares/")  # packs were uploaded before the stop
    # What the stopped run uploaded goes with the (uncommitted) backup's delete.
    delete_tree_backup(store, share_id=OWNER, backup_id="b1")
    assert store.list("shares/") == []


def test_a_failing_stream_writes_no_manifest(store: ObjectStore) -> None:
    class Broken:
        def read(self, size: int = -1, /) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(TransientStorageError, match="Input/output error"):
        _write(store, Broken(), "b1")
    assert not tree_manifest_exists(store, share_id=OWNER, backup_id="b1")


def test_a_parent_deleted_meanwhile_is_not_committed_against(store: ObjectStore) -> None:
    _write(store, _random(50 * KIB), "b1")
    parent = _manifest(store, "b1")
    delete_tree_backup(store, share_id=OWNER, backup_id="b1")
    with pytest.raises(ObjectNotFound):
        _write(store, _random(60 * KIB), "b2", parent)
    assert not tree_manifest_exists(store, share_id=OWNER, backup_id="b2")


def _pipe_writer(fd: int, data: bytes) -> None:
    """Write ``data`` to the pipe in irregular pieces, then close it (EOF)."""
    rng = random.Random(7)
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view[: rng.randint(1, 200_000)])
            view = view[n:]
    finally:
        os.close(fd)


@pytest.mark.parametrize("buffering", [0, -1], ids=["raw", "buffered"])
def test_a_stream_from_an_os_pipe(store: ObjectStore, buffering: int) -> None:
    data = _dump_like(3 * MIB, seed=11)
    read_fd, write_fd = os.pipe()
    writer = threading.Thread(target=_pipe_writer, args=(write_fd, data))
    writer.start()
    try:
        with open(read_fd, "rb", buffering=buffering) as pipe:
            result = _write(store, pipe, "b1", read_size=256 * KIB)
    finally:
        writer.join()
    assert result.size == len(data)
    assert _read(store, "b1") == data
    lengths = _chunk_lengths(_manifest(store, "b1"))
    assert lengths == [cut.length for cut in chunker(SMALL).cut_buf(data)]


def test_progress_reports_unknown_totals_as_zero_then_the_size(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "REPORT_STEP", 100 * KIB)
    calls: list[tuple[int, int]] = []
    data = _random(500 * KIB)
    _write(store, data, "b1", progress=lambda done, total: calls.append((done, total)))
    assert len(calls) >= 4
    assert all(total == 0 for _, total in calls[:-1])
    assert calls[-1] == (len(data), len(data))
    dones = [done for done, _ in calls]
    assert dones == sorted(dones)


def test_progress_passes_an_expected_size(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "REPORT_STEP", 100 * KIB)
    calls: list[tuple[int, int]] = []
    data = _random(300 * KIB)
    _write(store, data, "b1", expected_size=len(data), progress=lambda d, t: calls.append((d, t)))
    assert all(total == len(data) for _, total in calls)


def test_a_retry_rewrites_the_same_keys(store: ObjectStore) -> None:
    data = _random(300 * KIB)
    _write(store, data, "b1")
    keys = store.list("shares/")
    _write(store, data, "b1")
    assert store.list("shares/") == keys
    assert _read(store, "b1") == data


@pytest.mark.parametrize(
    "kw",
    [
        {"read_size": 0},
        {"workers": 0},
        {"pack_size": 1024},
        {"zstd_level": 0},
        {"params": ChunkParams(avg=3000, min=750, max=12000, span=96000)},
    ],
)
def test_bad_parameters_are_refused_before_reading(store: ObjectStore, kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _write(store, b"data", "b1", **kw)
    assert store.list("shares/") == []


def test_a_parent_of_another_owner_is_refused(store: ObjectStore) -> None:
    _write(store, b"data", "b1")
    parent = _manifest(store, "b1")
    with pytest.raises(ValueError):
        write_stream_backup(
            store,
            owner_id="instance-2",
            backup_id="b2",
            stream=io.BytesIO(b"x"),
            record={},
            parent=parent,
        )


# -- release --------------------------------------------------------------------------


def _chain(store: ObjectStore) -> Iterator[tuple[str, bytes]]:
    """Three backups b1 <- b2 <- b3 of a growing, changing stream; (id, its bytes)."""
    data = _random(400 * KIB)
    parent = None
    for n in range(1, 4):
        if n > 1:
            data = data[: 50 * KIB * n] + _random(20 * KIB, seed=n) + data[50 * KIB * n :]
            data += _random(30 * KIB, seed=10 + n)
        _write(store, data, f"b{n}", parent)
        parent = _manifest(store, f"b{n}")
        yield f"b{n}", data


def test_deleting_a_parent_keeps_what_its_child_references(
    store: ObjectStore, inner: ObjectStore
) -> None:
    chain = dict(_chain(store))
    child = _manifest(store, "b2")
    inherited = [key for key in child.packs if "/b1-" in key]
    assert inherited  # b2 reuses chunks stored by b1
    assert delete_tree_backup(store, share_id=OWNER, backup_id="b1") >= 1
    assert all(store.exists(key) for key in inherited)
    assert _read(store, "b2") == chain["b2"]
    assert _read(store, "b3") == chain["b3"]
    delete_tree_backup(store, share_id=OWNER, backup_id="b3")
    assert _read(store, "b2") == chain["b2"]
    delete_tree_backup(store, share_id=OWNER, backup_id="b2")
    assert store.list("shares/") == []
    assert inner.list("") == []


def test_deleting_the_newest_first_keeps_the_oldest(store: ObjectStore, inner: ObjectStore) -> None:
    chain = dict(_chain(store))
    for backup_id in ("b3", "b2"):
        delete_tree_backup(store, share_id=OWNER, backup_id=backup_id)
    assert _read(store, "b1") == chain["b1"]
    delete_tree_backup(store, share_id=OWNER, backup_id="b1")
    assert delete_tree_backup(store, share_id=OWNER, backup_id="b1") == 0
    assert inner.list("") == []
