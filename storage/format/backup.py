"""Writing a backup: blocks -> digest + zstd frames -> segments -> manifest, written last.

Digests are BLAKE3 for a new chain and the parent's algorithm for an incremental
(storage.format.digest). Incremental: a block whose digest equals the parent's is not
compressed nor stored (it points at the parent's frame); a changed one is stored as a
page patch over the parent's whole-block frame when at most a quarter of its 4 KiB pages
changed (storage.format.patch), else whole.

Pipeline: the calling thread reads blocks (holes are never read) and assembles segments in
volume order; a small thread pool hashes and compresses blocks (BLAKE3, SHA-256 and zstd
release the GIL, so this scales with cores); one uploader thread checksums and stores the
previous segment while the next one fills. At most one upload is in flight, which bounds
memory to about two segments plus a few blocks.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from storage.errors import CorruptData, ObjectNotFound
from storage.format.digest import ALGORITHMS, digest
from storage.format.digest import DEFAULT as DEFAULT_DIGEST
from storage.format.manifest import (
    BASE_ENTRY,
    BLOCK_ENTRY,
    HOLE,
    PATCH,
    ZERO_HASH,
    BlockEntry,
    Manifest,
)
from storage.format.patch import diff_pages, make_patch, page_count
from storage.format.progress import Progress, ProgressFn
from storage.format.segment import SegmentBuilder, SegmentRef, compressor, decode_frame
from storage.layout import manifest_key, validate_backup_id
from storage.memory import return_large_buffers
from storage.objects import ObjectStore
from storage.sources.block import device_size, iter_blocks

log = logging.getLogger(__name__)

WORKERS = max(2, min(4, os.cpu_count() or 1))
MIN_BLOCK_SIZE = 4096
MAX_BLOCK_SIZE = 64 * 1024 * 1024
# Frame offsets and lengths are u32 in the manifest.
MAX_SEGMENT_SIZE = 1 << 31
# A patch may carry at most this fraction (1/N) of its block's pages.
_MAX_PATCH_SHARE = 4
# A block's location in a block-table row: segment index, frame offset, frame length.
_LOCATION = struct.Struct("<III")
# Intra-backup dedup remembers this many block hashes (~170 bytes each), bounding memory.
_DEDUP_LIMIT = 1 << 18


@dataclass(frozen=True)
class BackupResult:
    """What a committed backup wrote; ``stored_bytes`` counts its own segments + manifest."""

    manifest: Manifest
    object_count: int
    stored_bytes: int
    new_blocks: int
    reused_blocks: int
    hole_blocks: int


def check_geometry(block_size: int, segment_size: int) -> None:
    """Validate block and segment sizes; raises ValueError."""
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE or block_size % MIN_BLOCK_SIZE:
        raise ValueError(f"block_size {block_size} must be a multiple of 4 KiB, 4 KiB..64 MiB")
    if not block_size <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment_size {segment_size} must be within block_size..2 GiB")


def write_backup(
    store: ObjectStore,
    *,
    backup_id: str,
    source_path: Path,
    record: dict[str, Any],
    block_size: int,
    segment_size: int,
    zstd_level: int = 1,
    parent: Manifest | None = None,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    before_commit: Callable[[], None] | None = None,
    algorithm: str | None = None,
) -> BackupResult:
    """Back up ``source_path`` as ``backup_id``; the manifest write is the commit point.

    Idempotent per backup_id: a retry uses the same segment keys (seq 0, 1, ...), skips
    segments an earlier attempt stored with identical bytes, then writes the manifest.
    Until the manifest exists nothing is committed; segments left by a failed attempt are
    garbage under the backup's prefix that delete_backup_objects removes.
    With ``parent``, a block whose digest equals the parent's block at the same index is not
    stored again: it points at the parent's frame. ``stop`` ends the work at the next
    block (Stopped); ``before_commit`` runs just before the manifest is written and may
    raise to keep the backup uncommitted. ``algorithm`` (storage.format.digest) defaults
    to the parent's, else BLAKE3. Raises StorageError; ValueError on bad geometry, parent
    or algorithm; TypeError if ``record`` is not JSON-able.
    """
    return_large_buffers()
    _check_request(backup_id, block_size, segment_size, parent, record)
    algorithm = _algorithm(parent, algorithm)
    # Measured once: the manifest's volume_size and block_count must agree whatever the
    # source does meanwhile (a grown source is read up to this size only).
    volume_size = device_size(source_path)
    log.info(
        "backup %s: writing %d bytes from %s (parent %s)",
        backup_id,
        volume_size,
        source_path,
        parent.backup_id if parent else None,
    )
    tracker = Progress(progress, volume_size, stop)
    writer = _SegmentWriter(store, backup_id, segment_size, zstd_level, parent, tracker, algorithm)
    try:
        for offset, data in iter_blocks(source_path, block_size, volume_size):
            writer.add(offset // block_size, min(block_size, volume_size - offset), data)
        segments, blocks, bases = writer.finish()
    finally:
        writer.close()
    stats = writer.stats(segments)
    manifest = Manifest(
        backup_id=backup_id,
        parent_id=parent.backup_id if parent else None,
        volume_size=volume_size,
        block_size=block_size,
        record=record,
        segments=segments,
        blocks=blocks,
        bases=bases,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        stats=stats,
        algorithm=algorithm,
    )
    payload = manifest.to_bytes()
    # Every reader verifies the manifest: never commit one that would not read back.
    Manifest.from_bytes(payload)
    tracker.check()
    if before_commit is not None:
        before_commit()
    store.put(manifest_key(backup_id), payload)  # the commit point
    tracker.finish()
    log.info("backup %s: committed, stats %s", backup_id, stats)
    return BackupResult(
        manifest=manifest,
        object_count=writer.segments_written + 1,
        stored_bytes=stats["stored_bytes"] + len(payload),
        new_blocks=writer.new_blocks,
        reused_blocks=writer.reused_blocks,
        hole_blocks=writer.hole_blocks,
    )


def _check_request(
    backup_id: str, block_size: int, segment_size: int, parent: Manifest | None, record: Any
) -> None:
    """Everything write_backup can refuse before moving data: ValueError, TypeError."""
    validate_backup_id(backup_id)
    check_geometry(block_size, segment_size)
    if parent is not None and (parent.block_size != block_size or parent.backup_id == backup_id):
        raise ValueError(f"parent {parent.backup_id} cannot be the parent of {backup_id}")
    json.dumps(record)


def _algorithm(parent: Manifest | None, asked: str | None) -> str:
    """The digest algorithm of a new backup: an incremental keeps its parent's, so its
    blocks compare with the parent's; ValueError for another or an unknown one."""
    chosen = asked or (parent.algorithm if parent is not None else DEFAULT_DIGEST)
    if chosen not in ALGORITHMS:
        raise ValueError(f"unknown digest algorithm {chosen!r}")
    if parent is not None and chosen != parent.algorithm:
        raise ValueError(f"an incremental keeps its parent's digest ({parent.algorithm})")
    return chosen


class _Base(NamedTuple):
    """A whole-block frame of an ancestor that a changed block may be patched over."""

    ref: SegmentRef
    offset: int
    length: int
    digest: bytes


class _Encoded(NamedTuple):
    """A hashed block: its frame (None: its bytes are already stored), whether the frame
    is a patch over the block's base, and the uncompressed bytes the frame holds."""

    digest: bytes
    frame: bytes | None
    patched: bool = False
    raw_bytes: int = 0


def _encode(
    store: ObjectStore,
    data: bytes,
    parent_hash: bytes | None,
    base: _Base | None,
    seen: dict[bytes, bytes],
    level: int,
    algorithm: str,
) -> _Encoded:
    """Hash a block; unless its bytes are already stored, compress it as a patch over
    ``base`` (when few pages changed) or whole. Runs on a pool thread."""
    key = digest(algorithm, data)
    if key == parent_hash or key in seen:  # reading the dict from a worker is GIL-safe
        return _Encoded(key, None)
    patch = _patch_over(store, base, data, algorithm) if base is not None else None
    if patch is not None:
        return _Encoded(key, compressor(level).compress(patch), True, len(patch))
    return _Encoded(key, compressor(level).compress(data), False, len(data))


def _patch_over(store: ObjectStore, base: _Base, data: bytes, algorithm: str) -> bytes | None:
    """The patch content turning the base's bytes into ``data``, or None when more than
    a quarter of the pages differ from the base or the base frame does not verify (the
    new block must not depend on a damaged frame).

    A patched block is restored by reading its base and its patch; the quarter bounds
    that to about 1.25x the block, and a block that keeps changing (its patch gathers
    every page changed since the base) is stored whole again, a new base, past it."""
    frame = store.get_range(base.ref.key, base.offset, base.length)
    try:
        old = decode_frame(frame, len(data), base.digest, algorithm=algorithm)
    except CorruptData as exc:
        log.warning(
            "base frame in %s at %d does not verify (%s): block stored whole",
            base.ref.key,
            base.offset,
            exc,
        )
        return None
    pages = diff_pages(old, data)
    if len(pages) * _MAX_PATCH_SHARE > page_count(len(data)):
        return None
    return make_patch(data, pages)


def _upload(
    store: ObjectStore, owner: str, seq: int, data: bytearray, algorithm: str
) -> SegmentRef:
    """Checksum and store one sealed segment; runs on the uploader thread.

    A retried backup resumes: a segment an earlier attempt already stored with exactly
    these bytes is not sent again.
    """
    ref = SegmentRef(owner=owner, seq=seq, size=len(data), digest=digest(algorithm, data))
    if _already_stored(store, ref, algorithm):
        log.debug("backup %s: segment %d already stored, not sent again", owner, seq)
        return ref
    store.put(ref.key, data)
    log.debug("backup %s: stored segment %d (%d bytes)", owner, seq, len(data))
    return ref


def _already_stored(store: ObjectStore, ref: SegmentRef, algorithm: str) -> bool:
    """True iff the segment's key holds exactly ref's bytes (checked by size and digest).

    One existence check per segment on a first attempt; a read only where an earlier
    attempt left the key, since the source may have changed between attempts.
    """
    if not store.exists(ref.key):
        return False
    try:
        existing = store.get(ref.key)
    except ObjectNotFound:
        return False
    return len(existing) == ref.size and digest(algorithm, existing) == ref.digest


# Block index, length, its encoding (None: a hole), the parent's hash, the patch base.
_Pending = tuple[int, int, Future[_Encoded] | None, bytes | None, _Base | None]


class _SegmentWriter:
    """Turns blocks (in volume order) into block-table rows and uploaded segments."""

    def __init__(
        self,
        store: ObjectStore,
        backup_id: str,
        segment_size: int,
        level: int,
        parent: Manifest | None,
        tracker: Progress,
        algorithm: str,
    ) -> None:
        self._store = store
        self._backup_id = backup_id
        self._level = level
        self._algorithm = algorithm
        self._parent = parent
        self._tracker = tracker
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="safehold-encode")
        self._uploader = ThreadPoolExecutor(1, thread_name_prefix="safehold-upload")
        self._pending: deque[_Pending] = deque()
        self._max_pending = WORKERS * 4
        self._builder = SegmentBuilder(segment_size)
        # Segment table: own segments as upload futures, ancestors' as copied refs.
        self._table: list[SegmentRef | Future[SegmentRef] | None] = []
        # Where each ancestor segment already copied from the parent sits in the table.
        self._table_index: dict[tuple[str, int], int] = {}
        self._open: int | None = None  # table index of the segment being filled
        self._upload: Future[SegmentRef] | None = None
        self._rows = bytearray()  # packed block table, one BLOCK_ENTRY row per block
        self._bases = bytearray()  # packed base table, one BASE_ENTRY row per patch entry
        self._seen: dict[bytes, bytes] = {}  # digest -> packed (segment, offset, length)
        self.segments_written = 0
        self.new_blocks = self.reused_blocks = self.hole_blocks = self.data_bytes = 0
        self.patched_blocks = 0

    def add(self, index: int, length: int, data: bytes | None) -> None:
        """Queue block ``index`` (None = hole); collects finished blocks to bound memory."""
        parent_hash = None
        if data is not None:
            base = None
            if self._parent is not None and index < self._parent.block_count:
                parent_hash = self._parent.block_hash(index)
                base = self._base_of(index, length)
            future = self._pool.submit(
                _encode,
                self._store,
                data,
                parent_hash,
                base,
                self._seen,
                self._level,
                self._algorithm,
            )
            self._pending.append((index, length, future, parent_hash, base))
        else:
            self._pending.append((index, length, None, None, None))
        while len(self._pending) > self._max_pending:
            self._collect(*self._pending.popleft())

    def _base_of(self, index: int, length: int) -> _Base | None:
        """The whole-block frame a changed block ``index`` may be patched over: the
        parent's frame, or the base of the parent's patch (patches never stack)."""
        assert self._parent is not None
        if self._parent.block_length(index) != length:
            return None
        entry = self._parent.block(index)
        return None if entry.is_hole else self._whole_frame(entry)

    def _whole_frame(self, entry: BlockEntry) -> _Base:
        """The parent's whole-block frame behind ``entry``: its base if it is a patch."""
        assert self._parent is not None
        segment, offset, length, key = entry.base or (
            entry.segment,
            entry.offset,
            entry.length,
            entry.digest,
        )
        return _Base(self._parent.segments[segment], offset, length, key)

    def _collect(
        self,
        index: int,
        length: int,
        future: Future[_Encoded] | None,
        parent_hash: bytes | None,
        base: _Base | None,
    ) -> None:
        if future is None:
            self._rows += BLOCK_ENTRY.pack(HOLE, 0, 0, ZERO_HASH)
            self.hole_blocks += 1
        else:
            encoded = future.result()
            key = encoded.digest
            located = self._seen.get(key)
            if located is None and encoded.frame is None and key == parent_hash:
                located = self._from_parent(index)
            if located is None and encoded.frame is not None:
                located = self._place(encoded.frame)
                if encoded.patched:
                    assert base is not None  # _encode patches only over a base
                    located = self._as_patch(located, base)
                    self.patched_blocks += 1
                self.new_blocks += 1
                self.data_bytes += encoded.raw_bytes
            else:
                self.reused_blocks += 1
            if located is None:  # cannot happen: _encode saw key in _seen or the parent
                raise RuntimeError(f"block {index} of backup {self._backup_id} lost its frame")
            if len(self._seen) < _DEDUP_LIMIT:
                self._seen.setdefault(key, located)
            self._rows += located[:12]
            self._rows += key
            self._bases += located[12:]
        self._tracker.advance(length)

    def _slot(self, ref: SegmentRef) -> int:
        """The table index of an ancestor's segment, copying its entry on first use."""
        slot = self._table_index.get((ref.owner, ref.seq))
        if slot is None:
            slot = self._table_index[(ref.owner, ref.seq)] = len(self._table)
            self._table.append(ref)
        return slot

    def _as_patch(self, located: bytes, base: _Base) -> bytes:
        """A placed frame's location flagged as a patch, followed by its base row."""
        segment, offset, length = _LOCATION.unpack(located)
        row = BASE_ENTRY.pack(self._slot(base.ref), base.offset, base.length, base.digest)
        return _LOCATION.pack(segment | PATCH, offset, length) + row

    def _from_parent(self, index: int) -> bytes:
        """Point at the parent's frame (and base) for block ``index``, copying their
        segment-table entries."""
        assert self._parent is not None
        entry = self._parent.block(index)
        located = _LOCATION.pack(
            self._slot(self._parent.segments[entry.segment]), entry.offset, entry.length
        )
        return located if entry.base is None else self._as_patch(located, self._whole_frame(entry))

    def _place(self, frame: bytes) -> bytes:
        """Append a frame to the open segment (sealing a full one first); packed location."""
        if not self._builder.fits(len(frame)):
            self._seal()
        if self._open is None:
            self._open = len(self._table)
            self._table.append(None)
        offset = self._builder.add(frame)
        return _LOCATION.pack(self._open, offset, len(frame))

    def _seal(self) -> None:
        """Hand the open segment to the uploader, after the previous upload finished."""
        assert self._open is not None
        data = self._builder.seal()
        if self._upload is not None:
            self._upload.result()  # one upload in flight: bounds memory, surfaces errors
        seq = self.segments_written
        self._upload = self._uploader.submit(
            _upload, self._store, self._backup_id, seq, data, self._algorithm
        )
        self._table[self._open] = self._upload
        self._open = None
        self.segments_written += 1

    def finish(self) -> tuple[tuple[SegmentRef, ...], bytes, bytes]:
        """Drain, seal and upload the rest; return the segment table and the packed block
        and base rows."""
        while self._pending:
            self._collect(*self._pending.popleft())
        if self._open is not None:
            self._seal()
        table = []
        for slot in self._table:
            if slot is None:
                raise RuntimeError(f"backup {self._backup_id}: unsealed segment in the table")
            table.append(slot.result() if isinstance(slot, Future) else slot)
        return tuple(table), bytes(self._rows), bytes(self._bases)

    def stats(self, segments: tuple[SegmentRef, ...]) -> dict[str, int]:
        """The manifest's stats: block counts, data bytes, bytes of the backup's own segments."""
        return {
            "new_blocks": self.new_blocks,
            "reused_blocks": self.reused_blocks,
            "hole_blocks": self.hole_blocks,
            "patched_blocks": self.patched_blocks,
            "data_bytes": self.data_bytes,
            "stored_bytes": sum(r.size for r in segments if r.owner == self._backup_id),
        }

    def close(self) -> None:
        """Stop the threads; queued work is cancelled (used on success and failure)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._uploader.shutdown(wait=True, cancel_futures=True)
