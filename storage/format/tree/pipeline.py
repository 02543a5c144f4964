"""The backup pipeline: walked entries in, finished entries out, in walk order.

The walking thread opens each regular file to read (fstat "before", data extents) and
queues its spans; a pool of ``workers`` threads reads, cuts, hashes and compresses spans
(chunking.encode_span); this same thread collects results strictly in walk order, places
new chunks into packs (deterministic pack contents) and emits each finished entry.

Memory is bounded: spans are submitted only while fewer than ``workers * 8`` are in flight
and their bytes stay under ``(workers + 2) * span`` (a worker holds one span's bytes; a
finished span holds only the stored forms of its new chunks); at most 256 files are open
and 4096 entries wait to be collected; the pack writer buffers at most two packs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from storage.format.progress import Progress
from storage.format.tree.chunking import CHUNK_COMPRESSED, ChunkParams, SpanResult, encode_span
from storage.format.tree.entries import FLAG_CHANGED, Entry, Kind, Xattrs
from storage.format.tree.packs import PackWriter
from storage.format.tree.table import ChunkTable
from storage.format.tree.walk import read_xattrs
from storage.layout import pack_name

log = logging.getLogger(__name__)

MAX_OPEN_FILES = 256
MAX_PENDING_ENTRIES = 4096
UNITS_PER_WORKER = 8
# Files of at most SMALL_FILE bytes (and at most one span) are read whole by one worker
# call, batched: up to BATCH_FILES of them or BATCH_BYTES per pool task. The worker also
# takes the "after" fstat, reads the xattrs through the fd and closes the file, so the
# walking thread makes fewer syscalls (each one a GIL hand-off) and submits fewer tasks.
SMALL_FILE = 256 << 10
BATCH_FILES = 32
BATCH_BYTES = 1 << 20


@dataclass
class Counters:
    """Mutable counters of one backup run (TreeStats is their frozen form)."""

    files: int = 0
    directories: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    specials: int = 0
    bytes_total: int = 0
    bytes_read: int = 0
    bytes_reused: int = 0
    chunks_new: int = 0
    chunks_deduplicated: int = 0
    changed_while_read: list[str] = field(default_factory=list)


@dataclass
class FileRead:
    """A regular file being read: its fd, fstat before reading, spans and collected runs."""

    path: bytes
    fd: int
    before: os.stat_result
    flags: int
    xattrs: Xattrs
    spans: deque[tuple[int, int]]  # (start, length) not yet submitted
    futures: deque[tuple[Future[SpanResult], int, int]] = field(default_factory=deque)
    runs: list[tuple[int, list[int]]] = field(default_factory=list)
    run_end: int = -1
    data_bytes: int = 0
    eof_at: int | None = None
    small: bool = False  # read in a batch (see SMALL_FILE); spans stay empty
    placed: bool = False  # a small file's chunks were placed
    batch: SmallBatch | None = None
    results: list[tuple[SpanResult, int, int]] = field(default_factory=list)
    after: os.stat_result | None = None

    @property
    def collected(self) -> bool:
        """True once every span was submitted and collected."""
        if self.small:
            return self.placed
        return not self.spans and not self.futures

    def add_chunk(self, offset: int, length: int, index: int) -> None:
        """Record chunk ``index`` at ``offset``, extending the current run when contiguous."""
        if self.runs and offset == self.run_end:
            self.runs[-1][1].append(index)
        else:
            self.runs.append((offset, [index]))
        self.run_end = offset + length
        self.data_bytes += length


@dataclass(eq=False)
class SmallBatch:
    """Small files read by one pool task: (file, its spans) each, and their bytes."""

    files: list[tuple[FileRead, list[tuple[int, int]]]] = field(default_factory=list)
    size: int = 0
    future: Future[None] | None = None
    released: bool = False


class Pipeline:
    """Turns walked items (finished entries or FileReads) into entries passed to ``emit``."""

    def __init__(
        self,
        *,
        backup_id: str,
        table: ChunkTable,
        packs: PackWriter,
        params: ChunkParams,
        level: int,
        workers: int,
        tracker: Progress,
        counters: Counters,
        stop: threading.Event | None,
        emit: Callable[[Entry], None],
    ) -> None:
        self._backup_id = backup_id
        self._table = table
        self._packs = packs
        self._params = params
        self._level = level
        self._tracker = tracker
        self._counters = counters
        self._stop = stop
        self._emit = emit
        self._abort = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="safehold-chunk")
        self._pending: deque[Entry | FileRead] = deque()
        self._queue: deque[FileRead | SmallBatch] = deque()  # work to submit, walk order
        self._max_units = workers * UNITS_PER_WORKER
        self._max_bytes = (workers + 2) * params.span
        self._units = 0
        self._bytes = 0
        self._open = 0
        self._batch = SmallBatch()  # small files gathered, not yet queued

    def _halt(self) -> bool:
        """What workers poll between chunks: the caller's stop or this pipeline's abort."""
        return self._abort.is_set() or (self._stop is not None and self._stop.is_set())

    def add(self, item: Entry | FileRead) -> None:
        """Queue the next walked item; collects finished work, blocks when limits are hit."""
        self._pending.append(item)
        if isinstance(item, FileRead):
            self._open += 1
            if item.small:
                item.batch = self._batch
                self._batch.files.append((item, list(item.spans)))
                item.spans.clear()
                self._batch.size += item.before.st_size
                if len(self._batch.files) >= BATCH_FILES or self._batch.size >= BATCH_BYTES:
                    self._close_batch()
            elif item.spans:
                self._close_batch()  # keep the queue in walk order
                self._queue.append(item)
        self._pump()
        self._collect_ready()
        while len(self._pending) > MAX_PENDING_ENTRIES or self._open > MAX_OPEN_FILES:
            self._collect_step()

    def _close_batch(self) -> None:
        """Queue the small files gathered so far as one pool task."""
        if self._batch.files:
            self._queue.append(self._batch)
            self._batch = SmallBatch()

    def _read_batch(self, batch: SmallBatch) -> None:
        """Pool task: read, chunk and close each small file (fstat "after", xattrs)."""
        for item, spans in batch.files:
            for start, length in spans:
                item.results.append((self._encode(item.fd, start, length), start, length))
            after = os.fstat(item.fd)
            item.xattrs = read_xattrs(item.fd)
            os.close(item.fd)
            item.fd = -1
            item.after = after

    def finish(self) -> None:
        """Collect everything still pending (blocking)."""
        while self._pending:
            self._collect_step()

    def close(self) -> None:
        """Stop the workers and close the files still open (after success or failure)."""
        self._abort.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for item in self._pending:
            if isinstance(item, FileRead) and item.fd >= 0:
                os.close(item.fd)
                item.fd = -1
        self._pending.clear()

    def _pump(self) -> None:
        """Submit queued spans in walk order while the in-flight budget allows (always one)."""
        while self._queue:
            item = self._queue[0]
            if isinstance(item, SmallBatch):
                if not self._fits(item.size):
                    return
                self._queue.popleft()
                item.future = self._pool.submit(self._read_batch, item)
                self._units += 1
                self._bytes += item.size
                continue
            start, length = item.spans[0]
            if not self._fits(length):
                return
            item.spans.popleft()
            future = self._pool.submit(self._encode, item.fd, start, length)
            item.futures.append((future, start, length))
            self._units += 1
            self._bytes += length
            if not item.spans:
                self._queue.popleft()

    def _fits(self, size: int) -> bool:
        """Whether one more pool task of ``size`` bytes stays in the in-flight budget (the
        first always does, so a span larger than the budget still moves)."""
        if not self._units:
            return True
        return self._units < self._max_units and self._bytes + size <= self._max_bytes

    def _encode(self, fd: int, start: int, length: int) -> SpanResult:
        """Pool task: read, chunk, hash and compress one span of an open file."""
        return encode_span(
            fd,
            start,
            length,
            params=self._params,
            level=self._level,
            known=self._table.known,
            halt=self._halt,
        )

    def _collect_ready(self) -> None:
        """Collect, without blocking, whatever the head of the queue has finished."""
        while self._pending:
            head = self._pending[0]
            if isinstance(head, FileRead) and head.small:
                if not head.placed:
                    assert head.batch is not None
                    if head.batch.future is None or not head.batch.future.done():
                        return
                    self._take_small(head)
            elif isinstance(head, FileRead):
                while head.futures and head.futures[0][0].done():
                    self._take(head)
                if not head.collected:
                    return
            self._finish_head()

    def _collect_step(self) -> None:
        """Make progress on the head item, blocking on its next span if need be."""
        head = self._pending[0]
        if isinstance(head, FileRead) and head.small and not head.placed:
            self._take_small(head)
            return
        if isinstance(head, FileRead) and not head.collected:
            if not head.futures:
                self._pump()  # nothing is in flight, so the head's next span goes now
            self._take(head)
            return
        self._finish_head()

    def _take(self, item: FileRead) -> None:
        """Wait for the item's oldest span, then place its chunks."""
        future, start, length = item.futures.popleft()
        try:
            result = future.result()
        finally:
            self._units -= 1
            self._bytes -= length
        self._pump()
        self._place(item, result, start, length)

    def _take_small(self, item: FileRead) -> None:
        """Wait for the batch holding a small file, then place its chunks."""
        batch = item.batch
        assert batch is not None
        if batch is self._batch:
            self._close_batch()
        if batch.future is None:
            self._pump()  # the head's batch is the oldest queued work: it goes now
        assert batch.future is not None
        try:
            batch.future.result()  # raises what the worker raised
        finally:
            if not batch.released:
                batch.released = True
                self._units -= 1
                self._bytes -= batch.size
        self._pump()
        for result, start, length in item.results:
            self._place(item, result, start, length)
        item.results.clear()
        item.placed = True

    def _place(self, item: FileRead, result: SpanResult, start: int, length: int) -> None:
        """Record one span's chunks: dedup, or into a pack; in walk order."""
        self._counters.bytes_read += result.read
        if result.read < length and item.eof_at is None:
            item.eof_at = start + result.read  # the file shrank while it was read
        for chunk in result.chunks:
            index = self._table.existing(chunk.sha256)
            if index is not None:
                self._counters.chunks_deduplicated += 1
            elif chunk.payload is None:  # cannot happen: known ids are never forgotten
                raise RuntimeError(f"tree backup {self._backup_id}: chunk lost its bytes")
            else:
                seq, offset = self._packs.add(chunk.payload)
                flags = CHUNK_COMPRESSED if chunk.compressed else 0
                name = pack_name(self._backup_id, seq)
                index = self._table.add_new(
                    chunk.sha256, name, offset, len(chunk.payload), chunk.length, flags
                )
                self._counters.chunks_new += 1
            item.add_chunk(chunk.offset, chunk.length, index)
            self._tracker.advance(chunk.length)

    def _finish_head(self) -> None:
        item = self._pending.popleft()
        self._emit(self._finish_file(item) if isinstance(item, FileRead) else item)

    def _finish_file(self, item: FileRead) -> Entry:
        """fstat "after", close, and build the entry; flags a file that changed meanwhile."""
        if item.after is not None:  # a small file: the worker took it and closed the fd
            after = item.after
            self._open -= 1
        else:
            try:
                after = os.fstat(item.fd)
            finally:
                os.close(item.fd)
                item.fd = -1
                self._open -= 1
        before = item.before
        size = before.st_size if item.eof_at is None else min(before.st_size, item.eof_at)
        flags = item.flags
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
            before.st_size,
            before.st_mtime_ns,
            before.st_ctime_ns,
        ):
            flags |= FLAG_CHANGED
            shown = os.fsdecode(item.path)
            self._counters.changed_while_read.append(shown)
            log.warning("tree backup %s: %s changed while read", self._backup_id, shown)
        self._tracker.advance(max(0, size - item.data_bytes))  # the holes
        return Entry(
            path=item.path,
            kind=Kind.FILE,
            mode=before.st_mode & 0o7777,
            uid=before.st_uid,
            gid=before.st_gid,
            mtime_ns=before.st_mtime_ns,
            ctime_ns=before.st_ctime_ns,
            ino=before.st_ino,
            size=size,
            flags=flags,
            xattrs=item.xattrs,
            runs=tuple((offset, tuple(indices)) for offset, indices in item.runs),
        )
