"""Restoring a backup from its one manifest: fetch segments, verify, write blocks.

Pipeline: two fetcher threads read segments ahead (one GET per segment when every frame in
it is needed, else a few coalesced ranged reads); a thread pool decompresses each frame,
checks its length and digest and writes it with pwrite; the calling thread sequences the
work and reports progress. Holes are never written to regular files (see BlockTarget).
Page patches (storage.format.patch) come last, a batch at a time: each needs its base
frame and its patch frame, fetched with coalesced ranged reads.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, TypeVar

from storage.errors import CorruptData, InvalidRequest
from storage.format.backup import WORKERS
from storage.format.digest import digest
from storage.format.manifest import BlockEntry, Manifest, read_manifest
from storage.format.patch import apply_patch
from storage.format.progress import Progress, ProgressFn
from storage.format.segment import (
    SEGMENT_PRELUDE,
    SegmentRef,
    check_segment,
    check_segment_header,
    decode_frame,
    decompress_frame,
    inflate_block,
)
from storage.memory import return_large_buffers
from storage.objects import ObjectStore
from storage.sources.block import BlockTarget, device_size

log = logging.getLogger(__name__)

FETCHERS = 2
# Ranged reads of one segment are merged when the bytes between them are fewer than this:
# one request fetching a little extra beats two round trips.
_MAX_GAP = 1 << 20
# Patched blocks per batch: FETCHERS + 1 batches of frames (a base and a patch per block,
# up to ~1 MiB each) are held at once, about what the whole-block path holds.
_PATCH_BATCH = 12
# Ranged reads in flight at once for patched blocks (latency-bound, not bandwidth-bound).
_PATCH_READS = 8


class _Want(NamedTuple):
    """One block to restore: its frame's place in a segment and the expected result."""

    block: int
    offset: int
    length: int
    digest: bytes
    size: int


def restore_backup(
    store: ObjectStore,
    *,
    backup_id: str,
    target_path: Path,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    before_commit: Callable[[], None] | None = None,
) -> int:
    """Write the backup into an existing file/device; returns the bytes restored (volume size).

    Reads only this backup's manifest (no chain replay). Every block's length and digest
    is verified (and a whole fetched segment's length and prelude). A regular target is
    replaced only when every block verified (written into a staging file, then renamed),
    so a failure leaves it as it was; holes stay holes, including beyond the volume size. A larger
    block device's tail past the volume size is zeroed. ``stop`` ends the work at the
    next block (Stopped; a regular target is then left as it was); ``before_commit`` runs
    before a regular target is replaced and may raise to leave it as it was. Raises CorruptData,
    ObjectNotFound (missing manifest or segment), InvalidRequest (target smaller than the
    volume).
    """
    return_large_buffers()
    manifest = read_manifest(store, backup_id)
    target_size = device_size(target_path)
    if target_size < manifest.volume_size:
        raise InvalidRequest(
            f"restore target of {target_size} bytes is smaller than backup {backup_id} "
            f"({manifest.volume_size} bytes)"
        )
    log.info("restore %s: %d bytes into %s", backup_id, manifest.volume_size, target_path)
    plan, patches, holes = _plan(manifest)
    tracker = Progress(progress, manifest.volume_size, stop)
    with BlockTarget(target_path) as target:
        for offset, length in holes:
            target.hole(offset, length)
            tracker.advance(length)
        _restore_segments(store, manifest, plan, target, tracker)
        _restore_patches(store, manifest, patches, target, tracker)
        target.zero_tail(manifest.volume_size)
        tracker.check()
        if before_commit is not None:
            before_commit()
    tracker.finish()
    log.info("restore %s: done", backup_id)
    return manifest.volume_size


def _plan(
    manifest: Manifest,
) -> tuple[dict[int, list[_Want]], list[BlockEntry], list[tuple[int, int]]]:
    """Whole blocks grouped by segment-table index (frames in offset order), the patched
    blocks, and merged hole runs."""
    plan: dict[int, list[_Want]] = {}
    patches: list[BlockEntry] = []
    holes: list[tuple[int, int]] = []
    bs = manifest.block_size
    for entry in manifest.iter_blocks():
        size = manifest.block_length(entry.index)
        if entry.is_hole:
            if holes and holes[-1][0] + holes[-1][1] == entry.index * bs:
                holes[-1] = (holes[-1][0], holes[-1][1] + size)
            else:
                holes.append((entry.index * bs, size))
            continue
        if entry.is_patch:
            patches.append(entry)
            continue
        want = _Want(entry.index, entry.offset, entry.length, entry.digest, size)
        plan.setdefault(entry.segment, []).append(want)
    for wants in plan.values():
        wants.sort(key=lambda w: w.offset)
    return plan, patches, holes


def _restore_segments(
    store: ObjectStore,
    manifest: Manifest,
    plan: dict[int, list[_Want]],
    target: BlockTarget,
    tracker: Progress,
) -> None:
    """Fetch segments ahead, decode and write their frames in a pool; re-raises failures."""
    fetcher = ThreadPoolExecutor(FETCHERS, thread_name_prefix="safehold-fetch")
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="safehold-decode")
    writes: deque[Future[int]] = deque()
    bs = manifest.block_size
    fetches = (
        functools.partial(_fetch, store, manifest.segments[slot], plan[slot])
        for slot in sorted(plan)
    )
    try:
        for pieces in _ahead(fetcher, fetches):
            for want, frame in pieces:
                writes.append(
                    pool.submit(_write_block, target, want, frame, bs, manifest.algorithm)
                )
                while len(writes) > WORKERS * 4:
                    tracker.advance(writes.popleft().result())
        while writes:
            tracker.advance(writes.popleft().result())
    finally:
        fetcher.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)


def _restore_patches(
    store: ObjectStore,
    manifest: Manifest,
    patches: list[BlockEntry],
    target: BlockTarget,
    tracker: Progress,
) -> None:
    """Restore the patched blocks in batches: fetchers read the next batches' base and
    patch frames (ranged reads merged per segment) while a pool rebuilds, verifies and
    writes the current one."""
    if not patches:
        return
    batches = [patches[i : i + _PATCH_BATCH] for i in range(0, len(patches), _PATCH_BATCH)]
    fetcher = ThreadPoolExecutor(FETCHERS, thread_name_prefix="safehold-fetch")
    reads = ThreadPoolExecutor(_PATCH_READS, thread_name_prefix="safehold-read")
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="safehold-patch")
    fetches = (functools.partial(_fetch_frames, store, manifest, batch, reads) for batch in batches)
    try:
        for batch, frames in zip(batches, _ahead(fetcher, fetches), strict=True):
            jobs = [pool.submit(_write_patched, target, manifest, e, frames) for e in batch]
            for job in jobs:
                tracker.advance(job.result())
    finally:
        fetcher.shutdown(wait=True, cancel_futures=True)
        reads.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)


_FrameKey = tuple[int, int, int]  # segment-table index, offset, length
_T = TypeVar("_T")


def _ahead(fetcher: ThreadPoolExecutor, calls: Iterator[Callable[[], _T]]) -> Iterator[_T]:
    """The results of ``calls`` in order, FETCHERS of them running ahead on ``fetcher``
    (which bounds what is held: FETCHERS results plus the one being consumed)."""
    running: deque[Future[_T]] = deque()
    for call in itertools.islice(calls, FETCHERS):
        running.append(fetcher.submit(call))
    while running:
        result = running.popleft().result()
        for call in itertools.islice(calls, 1):
            running.append(fetcher.submit(call))
        yield result


def _fetch_frames(
    store: ObjectStore, manifest: Manifest, batch: list[BlockEntry], reads: ThreadPoolExecutor
) -> dict[_FrameKey, memoryview]:
    """The base and patch frames of a batch of patched blocks, by (segment, offset, length).

    A chain's bases lie scattered over many backups' segments: one read per segment
    (ranges merged), all in flight at once, since each waits on the store's latency."""
    wanted: dict[int, set[tuple[int, int]]] = {}
    for entry in batch:
        assert entry.base is not None
        wanted.setdefault(entry.segment, set()).add((entry.offset, entry.length))
        wanted.setdefault(entry.base[0], set()).add((entry.base[1], entry.base[2]))
    jobs = {
        segment: reads.submit(
            _fetch,
            store,
            manifest.segments[segment],
            [_Want(-1, offset, length, b"", 0) for offset, length in sorted(spans)],
        )
        for segment, spans in wanted.items()
    }
    return {
        (segment, want.offset, want.length): view
        for segment, job in jobs.items()
        for want, view in job.result()
    }


def _write_patched(
    target: BlockTarget, manifest: Manifest, entry: BlockEntry, frames: dict[_FrameKey, memoryview]
) -> int:
    """Rebuild one patched block from its base and its patch, verify and write it."""
    assert entry.base is not None
    segment, offset, length, _ = entry.base
    size = manifest.block_length(entry.index)
    # The base's own hash is not checked: the block's hash, checked below, covers every
    # base byte the patch keeps, and hashing the base too would cost a second hash.
    base = inflate_block(frames[(segment, offset, length)], size)
    patch = decompress_frame(frames[(entry.segment, entry.offset, entry.length)])
    try:
        data = apply_patch(base, patch)
    except ValueError as exc:
        raise CorruptData(f"block {entry.index}: {exc}") from exc
    if digest(manifest.algorithm, data) != entry.digest:
        raise CorruptData(f"block {entry.index}: checksum mismatch after its patch")
    target.write(entry.index * manifest.block_size, data)
    return size


def _write_block(
    target: BlockTarget, want: _Want, frame: memoryview, block_size: int, algorithm: str
) -> int:
    """Decode and verify one frame, write it in place; returns the block's byte count."""
    data = decode_frame(frame, want.size, want.digest, algorithm=algorithm)
    target.write(want.block * block_size, data)
    return want.size


def _fetch(
    store: ObjectStore, ref: SegmentRef, wants: list[_Want]
) -> list[tuple[_Want, memoryview]]:
    """Read the frames ``wants`` needs from one segment; raises CorruptData if short."""
    frames = {(w.offset, w.length) for w in wants}
    if sum(length for _, length in frames) + SEGMENT_PRELUDE.size == ref.size:
        # Every frame is needed: one GET.
        data = store.get(ref.key)
        check_segment(data, ref)
        view = memoryview(data)
        return [(w, view[w.offset : w.offset + w.length]) for w in wants]
    pieces: list[tuple[_Want, memoryview]] = []
    for start, end, run in _runs(wants):
        data = store.get_range(ref.key, start, end - start)
        if len(data) != end - start:
            raise CorruptData(f"segment {ref.key} is shorter than its frames")
        if start == 0:
            check_segment_header(data, ref)
        view = memoryview(data)
        pieces.extend((w, view[w.offset - start : w.offset - start + w.length]) for w in run)
    return pieces


def _runs(wants: list[_Want]) -> Iterator[tuple[int, int, list[_Want]]]:
    """Group offset-sorted frames into byte ranges separated by gaps of at least _MAX_GAP.

    The first range starts at 0 when the prelude is near, so its magic gets checked too.
    """
    start, end = 0, SEGMENT_PRELUDE.size
    run: list[_Want] = []
    for w in wants:
        if w.offset - end >= _MAX_GAP:
            if run:
                yield start, end, run
            start, end, run = w.offset, w.offset + w.length, []
        end = max(end, w.offset + w.length)
        run.append(w)
    if run:
        yield start, end, run
