"""Stream backups: a byte stream (a database dump) stored as the one file of a tree manifest.

The stream is read in large buffers and cut with FastCDC continuously (no span restarts:
a pipe cannot be read in parallel anyway); the last chunk of each buffer may have been
cut only because the buffer ended, so it is carried into the next read. Chunks the parent
(or this backup) has are never compressed or stored again; new ones go into packs in
stream order. The manifest (docs/format.md, "Stream backups") holds the root directory
and one regular file ``dump`` whose single run lists every chunk; it is written last.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgpack  # type: ignore[import-untyped]

from storage.errors import CorruptData, ObjectNotFound, Stopped
from storage.format.tree.backup import MAX_PACK_SIZE, MAX_WORKERS
from storage.format.tree.chunking import (
    CHUNK_COMPRESSED,
    CHUNK_ROW,
    ChunkParams,
    ChunkRow,
    chunker,
    decode_chunk,
    store_form,
)
from storage.format.tree.entries import Entry, Kind
from storage.format.tree.manifest import (
    TREE_VERSION,
    TreeManifest,
    TreeStats,
    decode_manifest,
    encode_manifest,
    read_tree_manifest,
    tree_manifest_exists,
)
from storage.format.tree.packs import MIN_PACK_SIZE, BatchFetcher, PackBytes, PackWriter
from storage.format.tree.table import ChunkTable
from storage.layout import pack_name, tree_manifest_key, validate_backup_id, validate_share_id
from storage.objects import ObjectStore, translate_errors

log = logging.getLogger(__name__)

# Database dumps mostly change by appended rows: an incremental stores the new bytes plus
# the chunk(s) around each change, so 64 KiB chunks (not the shares' 1 MiB) store far less
# of an append, for 16x the chunk rows (53 bytes per 64 KiB). Callers may choose others.
DATABASE_CHUNKING = ChunkParams.for_average(64 * 1024)
STREAM_ENTRY = b"dump"
READ_SIZE = 8 << 20
MAX_READ_SIZE = 1 << 30
# Progress is persisted by callers: report every this many bytes, not per buffer.
REPORT_STEP = 64 << 20
# A restore fetches batches of at most this many stored bytes (plus one chunk), one ahead.
BATCH_BYTES = 32 << 20
FETCHERS = 4


class ByteStream(Protocol):
    """What a stream backup reads: BinaryIO, a pipe's file object, anything with ``read``."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (fewer is fine), b"" only at EOF."""
        ...


@dataclass(frozen=True)
class StreamBackupResult:
    """What a committed stream backup read and wrote."""

    size: int  # raw bytes read from the stream
    stored_bytes: int  # bytes of the packs this backup wrote (the manifest excluded)
    chunks: int  # chunks the stream was cut into
    new_chunks: int  # chunks stored by this backup (the others were deduplicated)
    manifest_bytes: int


@dataclass(frozen=True, slots=True)
class _Cut:
    """One chunk as a worker left it: id, raw length and (if new) its stored form."""

    sha256: bytes
    length: int
    payload: bytes | None  # None: the id was known, nothing to store
    compressed: bool


def write_stream_backup(
    store: ObjectStore,
    *,
    owner_id: str,
    backup_id: str,
    stream: ByteStream,
    record: dict[str, Any],
    parent: TreeManifest | None = None,
    params: ChunkParams = DATABASE_CHUNKING,
    zstd_level: int = 3,
    pack_size: int = 16 << 20,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    read_size: int = READ_SIZE,
    expected_size: int = 0,
    workers: int = 2,
) -> StreamBackupResult:
    """Store ``stream`` (read to EOF) as backup ``backup_id`` of ``owner_id``; commit last.

    Idempotent per backup id given the same bytes (pack keys seq 0, 1, ... in stream
    order, then the manifest). With ``parent`` (same owner), chunks it has are referenced,
    not stored. ``progress(done, total)`` gets total 0 while the size is unknown
    (``expected_size`` 0). No manifest is written on any error; ``stop`` ends the work at
    the next chunk with Stopped. Raises StorageError (ObjectNotFound if the parent was
    deleted meanwhile), ValueError on bad parameters, TypeError if ``record`` is no JSON map.
    """
    _check_request(owner_id, backup_id, record, parent, params, zstd_level, pack_size)
    _check_limits(read_size, workers)
    log.info(
        "stream backup %s: owner %s (parent %s)",
        backup_id,
        owner_id,
        parent.backup_id if parent else None,
    )
    started_ns = time.time_ns()
    reporter = _Reporter(progress, expected_size)
    run = _Writer(store, owner_id, backup_id, parent, params, zstd_level, stop, reporter)
    run.consume(stream, pack_size, read_size, workers)
    payload = run.manifest(record, started_ns)
    run.check()
    if parent is not None and not tree_manifest_exists(
        store, share_id=owner_id, backup_id=parent.backup_id
    ):
        # Its packs may be going away: committing would make an unrestorable backup.
        raise ObjectNotFound(f"parent {parent.backup_id} of {backup_id} was deleted meanwhile")
    store.put(tree_manifest_key(owner_id, backup_id), payload)  # the commit point
    reporter.finish()
    result = run.result(len(payload))
    log.info("stream backup %s: committed, %s", backup_id, result)
    return result


def _check_request(
    owner_id: str,
    backup_id: str,
    record: Any,
    parent: TreeManifest | None,
    params: ChunkParams,
    zstd_level: int,
    pack_size: int,
) -> None:
    """What write_stream_backup refuses before reading: ValueError, TypeError, InvalidKey."""
    validate_share_id(owner_id)
    validate_backup_id(backup_id)
    ChunkParams.for_average(params.avg)  # the manifest decoder's rule for the average
    if not MIN_PACK_SIZE <= pack_size <= MAX_PACK_SIZE:
        raise ValueError(f"pack_size {pack_size} must be within 64 KiB..1 GiB")
    if not 1 <= zstd_level <= 22:
        raise ValueError(f"zstd_level {zstd_level} must be within 1..22")
    if parent is not None and (parent.share_id != owner_id or parent.backup_id == backup_id):
        raise ValueError(f"backup {parent.backup_id} cannot be the parent of {backup_id}")
    if not isinstance(record, dict):
        raise TypeError("record must be a dict")
    json.dumps(record)


def _check_limits(read_size: int, workers: int) -> None:
    """Buffer size and pool size within their limits; ValueError otherwise."""
    if not 1 <= read_size <= MAX_READ_SIZE:
        raise ValueError(f"read_size {read_size} must be within 1 B..1 GiB")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers {workers} must be within 1..{MAX_WORKERS}")


class _Reporter:
    """Throttled progress(done, total) where total is 0 while unknown (or exceeded)."""

    def __init__(self, fn: Callable[[int, int], None] | None, expected: int) -> None:
        self._fn = fn
        self._expected = expected
        self.done = 0
        self._next = REPORT_STEP

    def advance(self, nbytes: int) -> None:
        """Count ``nbytes`` more; report once another REPORT_STEP bytes are done."""
        self.done += nbytes
        if self._fn is not None and self.done >= self._next:
            self._next = self.done + REPORT_STEP
            self._fn(self.done, self._expected if self._expected > self.done else 0)

    def finish(self) -> None:
        """Report completion (done == total), once."""
        if self._fn is not None:
            self._fn(self.done, self.done)
            self._fn = None


class _Writer:
    """One stream backup run: cut on the calling thread, hash and compress on a pool,
    place chunks into packs in stream order (deterministic pack contents)."""

    def __init__(
        self,
        store: ObjectStore,
        owner_id: str,
        backup_id: str,
        parent: TreeManifest | None,
        params: ChunkParams,
        level: int,
        stop: threading.Event | None,
        reporter: _Reporter,
    ) -> None:
        self._store = store
        self._owner_id = owner_id
        self._backup_id = backup_id
        self._parent = parent
        self._params = params
        self._level = level
        self._stop = stop
        self._abort = threading.Event()
        self._reporter = reporter
        self._table = ChunkTable(parent)
        self._indices: list[int] = []
        self._pack_sizes: list[int] = []
        self._new_chunks = 0

    def check(self) -> None:
        """Raise Stopped if the caller said stop."""
        if self._stop is not None and self._stop.is_set():
            raise Stopped(f"stream backup {self._backup_id} stopped")

    def _halt(self) -> bool:
        """What workers poll between chunks: the caller's stop or this run's abort."""
        return self._abort.is_set() or (self._stop is not None and self._stop.is_set())

    def consume(self, stream: ByteStream, pack_size: int, read_size: int, workers: int) -> None:
        """Read the stream to EOF and store its new chunks; every pack is uploaded on return."""
        packs = PackWriter(self._store, self._owner_id, self._backup_id, pack_size)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="safehold-stream-chunk")
        pending: deque[Future[list[_Cut]]] = deque()
        try:
            for pieces in _cut_stream(stream, self._params, read_size, self._backup_id, self.check):
                pending.append(pool.submit(self._encode, pieces))
                while len(pending) > workers:  # bounds memory: workers + 2 buffers at most
                    self._place(packs, pending.popleft().result())
            while pending:
                self._place(packs, pending.popleft().result())
            self._pack_sizes = packs.finish()
        finally:
            self._abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            packs.close()
        for seq, size in enumerate(self._pack_sizes):
            self._table.set_pack_size(pack_name(self._backup_id, seq), size)

    def _encode(self, pieces: list[memoryview]) -> list[_Cut]:
        """Pool task: hash each chunk and compress those no one has stored yet."""
        cuts: list[_Cut] = []
        probing = False
        for piece in pieces:
            if self._halt():
                raise Stopped(f"stream backup {self._backup_id} stopped while chunking")
            sha = hashlib.sha256(piece).digest()
            if self._table.known(sha):
                cuts.append(_Cut(sha, len(piece), None, False))
                continue
            payload, compressed = store_form(piece, self._level, probing)
            probing = not compressed  # chunking.py's rule: probe after a failure
            cuts.append(_Cut(sha, len(piece), payload, compressed))
        return cuts

    def _place(self, packs: PackWriter, cuts: list[_Cut]) -> None:
        """Reference known chunks, append new ones to the packs; in stream order."""
        for cut in cuts:
            index = self._table.existing(cut.sha256)
            if index is None:
                if cut.payload is None:  # cannot happen: known ids are never forgotten
                    raise RuntimeError(f"stream backup {self._backup_id}: chunk lost its bytes")
                seq, offset = packs.add(cut.payload)
                flags = CHUNK_COMPRESSED if cut.compressed else 0
                name = pack_name(self._backup_id, seq)
                index = self._table.add_new(
                    cut.sha256, name, offset, len(cut.payload), cut.length, flags
                )
                self._new_chunks += 1
            self._indices.append(index)
            self._reporter.advance(cut.length)

    def _stats(self) -> TreeStats:
        size = self._reporter.done
        chunks = len(self._indices)
        return TreeStats(
            files=1,
            directories=1,
            bytes_total=size,
            bytes_read=size,
            chunks_new=self._new_chunks,
            chunks_deduplicated=chunks - self._new_chunks,
            stored_bytes=sum(self._pack_sizes),
            packs_written=len(self._pack_sizes),
        )

    def manifest(self, record: dict[str, Any], started_ns: int) -> bytes:
        """The encoded (and read-back verified) manifest: the root and the ``dump`` file."""
        stats = self._stats()
        header = {
            "version": TREE_VERSION,
            "kind": "stream",
            "share_id": self._owner_id,
            "backup_id": self._backup_id,
            "parent_id": self._parent.backup_id if self._parent else None,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "started_ns": started_ns,
            "record": record,
            "stats": stats.counters(),
            "chunking": self._params.as_dict(),
            "packs": self._table.packs(),
            "chunk_count": len(self._table.rows) // CHUNK_ROW.size,
            "entry_count": 2,
            "size_bytes": stats.bytes_total,
        }
        packer = msgpack.Packer(use_bin_type=True)
        entries = b"".join(packer.pack(e.to_array()) for e in self._entries(started_ns))
        payload = encode_manifest(header, bytes(self._table.rows), entries)
        decode_manifest(payload)  # every reader verifies it: never commit one that fails
        return payload

    def _entries(self, started_ns: int) -> tuple[Entry, Entry]:
        """The root directory (the tree format requires it) and the ``dump`` file."""
        root = Entry(b"", Kind.DIR, 0o700, 0, 0, started_ns, 0, 0, 0)
        runs = ((0, tuple(self._indices)),) if self._indices else ()
        size = self._reporter.done
        dump = Entry(STREAM_ENTRY, Kind.FILE, 0o600, 0, 0, started_ns, 0, 0, size, runs=runs)
        return root, dump

    def result(self, manifest_bytes: int) -> StreamBackupResult:
        """The run's result once committed."""
        return StreamBackupResult(
            size=self._reporter.done,
            stored_bytes=sum(self._pack_sizes),
            chunks=len(self._indices),
            new_chunks=self._new_chunks,
            manifest_bytes=manifest_bytes,
        )


def _cut_stream(
    stream: ByteStream,
    params: ChunkParams,
    read_size: int,
    backup_id: str,
    check: Callable[[], None],
) -> Iterator[list[memoryview]]:
    """The stream's chunks, one list per buffer; each buffer's last chunk is carried into
    the next read (it may end only because the buffer did) until EOF makes it final."""
    cdc = chunker(params)
    tail = b""
    eof = False
    while not eof:
        check()
        buf, eof = _fill(stream, tail, read_size, backup_id)
        # A cut FastCDC finds before the buffer's end is where it would be in the whole
        # stream: it depends only on the bytes from the chunk's start to the cut.
        pieces = [cut.data for cut in cdc.cut_buf(buf)] if buf else []
        if not eof:
            tail = bytes(pieces.pop())
        if pieces:
            yield pieces


def _fill(stream: ByteStream, tail: bytes, want: int, backup_id: str) -> tuple[bytearray, bool]:
    """``tail`` plus up to ``want`` more bytes; the flag is True once the stream ended.

    Loops over short reads (raw pipes return what is there). Read failures are
    translated into StorageError like every other foreign error.
    """
    buf = bytearray(tail)
    goal = len(tail) + want
    with translate_errors("read stream of", backup_id):
        while len(buf) < goal:
            data = stream.read(goal - len(buf))
            if not data:
                return buf, True
            buf += data
    return buf, False


def iter_stream(store: ObjectStore, *, owner_id: str, backup_id: str) -> Iterator[bytes]:
    """The backup's stream, chunk by chunk, each chunk's length and sha256 verified.

    Reads only this backup's manifest (it names every chunk of the chain) before
    returning: ObjectNotFound and a manifest's CorruptData raise here; a missing pack or
    a chunk that fails verification raise while iterating (CorruptData names the backup).
    """
    manifest = read_tree_manifest(store, share_id=owner_id, backup_id=backup_id)
    indices = stream_chunks(manifest)
    log.info(
        "stream restore %s: %d bytes in %d chunks", backup_id, manifest.size_bytes, len(indices)
    )
    return _Reader(store, manifest).read(indices)


def stream_chunks(manifest: TreeManifest) -> tuple[int, ...]:
    """The chunk indices of a stream backup's ``dump``, in order; CorruptData if the
    manifest is not a stream backup (entries other than the root and ``dump``, or holes)."""
    entries = list(itertools.islice(manifest.iter_entries(), 3))
    dump = entries[1] if len(entries) == 2 else None
    if dump is None or dump.path != STREAM_ENTRY or dump.kind != Kind.FILE:
        raise CorruptData(f"backup {manifest.backup_id} is not a stream backup")
    end = 0
    for offset, indices in dump.runs:
        if offset != end:
            raise CorruptData(f"stream backup {manifest.backup_id} has a hole at {end}")
        end += sum(manifest.chunk(index).raw_len for index in indices)
    if end != dump.size:
        raise CorruptData(f"stream backup {manifest.backup_id} ends at {end}, not {dump.size}")
    return tuple(index for _offset, indices in dump.runs for index in indices)


Batch = list[tuple[int, ChunkRow]]


class _Reader:
    """Fetches a stream's chunks in batches by pack, one batch ahead, and verifies them."""

    def __init__(self, store: ObjectStore, manifest: TreeManifest) -> None:
        self._store = store
        self._manifest = manifest
        self._fetcher = BatchFetcher(store, manifest.packs, manifest.pack_sizes)

    def read(self, indices: tuple[int, ...]) -> Iterator[bytes]:
        """Yield the chunks' raw bytes in order; CorruptData names the backup."""
        pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="safehold-stream-fetch")
        try:
            batches = self._batches(indices)
            batch = next(batches, None)
            fetched = self._fetch(pool, batch) if batch else {}
            while batch is not None:
                following = next(batches, None)
                ahead = self._fetch(pool, following) if following else {}
                yield from self._decode(batch, fetched)
                batch, fetched = following, ahead
        except CorruptData as exc:
            raise CorruptData(f"stream backup {self._manifest.backup_id}: {exc}") from exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _batches(self, indices: tuple[int, ...]) -> Iterator[Batch]:
        """Consecutive chunks cut into batches of about BATCH_BYTES stored bytes."""
        batch: Batch = []
        stored = 0
        for index in indices:
            row = self._manifest.chunk(index)
            batch.append((index, row))
            stored += row.stored_len
            if stored >= BATCH_BYTES:
                yield batch
                batch, stored = [], 0
        if batch:
            yield batch

    def _fetch(self, pool: ThreadPoolExecutor, batch: Batch) -> dict[int, Future[PackBytes]]:
        """Start fetching the batch's packs (packs.BatchFetcher)."""
        return self._fetcher.fetch(pool, ((r.pack, r.offset, r.stored_len) for _i, r in batch))

    @staticmethod
    def _decode(batch: Batch, fetched: dict[int, Future[PackBytes]]) -> Iterator[bytes]:
        """The batch's chunks, decompressed and verified, in stream order."""
        for index, row in batch:
            stored = fetched[row.pack].result().piece(row.offset, row.stored_len)
            try:
                data = decode_chunk(stored, row)
            except CorruptData as exc:
                raise CorruptData(f"{exc}: chunk {index} ({row.sha256.hex()[:16]})") from exc
            yield bytes(data)
