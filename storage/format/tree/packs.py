"""Packs: many chunks' stored forms in one object, behind a 16-byte header.

A pack has no index: the manifests that reference it hold every chunk's offset and length.
The header only makes a stray object recognisable (magic, version). The writer fills one
pack while the previous one uploads on a single uploader thread, so at most two packs are
buffered; the reader fetches a pack whole when most of it is needed, else the needed byte
ranges (merged across small gaps).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from storage.errors import CorruptData
from storage.layout import pack_key
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

PACK_MAGIC = b"SAFEHPAK"
PACK_VERSION = 1
# magic, version, flags (0), reserved (0)
PACK_HEADER = struct.Struct("<8sHHI")
PACK_PRELUDE = PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION, 0, 0)
MIN_PACK_SIZE = 64 * 1024
# Ranged reads of one pack are merged when fewer bytes than this lie between them.
MAX_GAP = 1 << 20
# A pack is fetched whole when at least this share of it is needed (one request, and
# object stores charge per request).
WHOLE_PACK_SHARE = 0.5


def check_pack_header(data: bytes | memoryview, key: str) -> None:
    """Verify the header at the start of a pack; raises CorruptData."""
    if len(data) < PACK_HEADER.size:
        raise CorruptData(f"pack {key} is truncated")
    magic, version, flags, reserved = PACK_HEADER.unpack_from(data)
    if magic != PACK_MAGIC or version != PACK_VERSION or flags or reserved:
        raise CorruptData(f"pack {key} has a bad header (magic, version or flags)")


class PackWriter:
    """Appends stored chunks to packs ``<backup_id>-<seq>`` and uploads each one once full.

    ``add`` says where a chunk landed (seq, offset); a pack is sealed before a chunk would
    make it exceed ``pack_size`` (a single larger chunk gets a pack of its own).
    """

    def __init__(self, store: ObjectStore, share_id: str, backup_id: str, pack_size: int) -> None:
        self._store = store
        self._share_id = share_id
        self._backup_id = backup_id
        self._limit = pack_size
        self._parts: list[bytes] = []
        self._size = PACK_HEADER.size
        self._uploader = ThreadPoolExecutor(1, thread_name_prefix="safehold-pack-upload")
        self._upload: Future[None] | None = None
        self.sizes: list[int] = []  # size of every pack sealed so far, by seq
        self.stored_bytes = 0

    @property
    def seq(self) -> int:
        """The seq of the pack being filled."""
        return len(self.sizes)

    def add(self, payload: bytes) -> tuple[int, int]:
        """Append a stored chunk; returns (pack seq, offset within the pack)."""
        if self._parts and self._size + len(payload) > self._limit:
            self._seal()
        offset = self._size
        self._parts.append(payload)
        self._size += len(payload)
        return self.seq, offset

    def _seal(self) -> None:
        """Hand the filled pack to the uploader once the previous upload has finished."""
        data = b"".join([PACK_PRELUDE, *self._parts])
        self._parts = []
        self._size = PACK_HEADER.size
        if self._upload is not None:
            self._upload.result()  # one upload in flight: bounds memory, surfaces errors
        key = pack_key(self._share_id, self._backup_id, self.seq)
        self._upload = self._uploader.submit(self._put, key, data)
        self.sizes.append(len(data))
        self.stored_bytes += len(data)

    def _put(self, key: str, data: bytes) -> None:
        self._store.put(key, data)
        log.debug("tree backup %s: stored pack %s (%d bytes)", self._backup_id, key, len(data))

    def finish(self) -> list[int]:
        """Seal and upload the last pack, wait for every upload; the sizes of all packs."""
        if self._parts:
            self._seal()
        if self._upload is not None:
            self._upload.result()
        return self.sizes

    def close(self) -> None:
        """Stop the uploader (after success or failure); a queued upload is cancelled."""
        self._uploader.shutdown(wait=True, cancel_futures=True)
        self._parts = []


Piece = tuple[int, int]  # (offset within the pack, stored length)


class PackBytes:
    """What was fetched of one pack: all of it, or some byte ranges."""

    def __init__(self, ranges: list[tuple[int, bytes]]) -> None:
        self._ranges = [(start, memoryview(data)) for start, data in ranges]

    def piece(self, offset: int, length: int) -> memoryview:
        """The stored bytes ``[offset, offset + length)``; KeyError if they were not fetched."""
        for start, view in self._ranges:
            if start <= offset and offset + length <= start + len(view):
                return view[offset - start : offset - start + length]
        raise KeyError(f"bytes {offset}+{length} of a pack were not fetched")


def wants_whole(pack_size: int, pieces: list[Piece]) -> bool:
    """True if at least half of the pack is needed: one GET beats several ranged ones."""
    needed = sum(length for _, length in set(pieces))
    return needed >= pack_size * WHOLE_PACK_SHARE


def fetch_whole(store: ObjectStore, key: str, pack_size: int) -> PackBytes:
    """The whole pack, its size and header verified; raises CorruptData, ObjectNotFound."""
    data = store.get(key)
    if len(data) != pack_size:
        raise CorruptData(f"pack {key} has {len(data)} bytes, expected {pack_size}")
    check_pack_header(data, key)
    return PackBytes([(0, data)])


def fetch_ranges(store: ObjectStore, key: str, pieces: list[Piece]) -> PackBytes:
    """The byte ranges covering ``pieces``, merged across gaps under MAX_GAP, each read
    once; raises CorruptData if the pack is shorter than its pieces, ObjectNotFound."""
    ranges = []
    for start, end in _ranges(sorted(set(pieces))):
        data = store.get_range(key, start, end - start)
        if len(data) != end - start:
            raise CorruptData(f"pack {key} is shorter than the chunks it should hold")
        ranges.append((start, data))
    return PackBytes(ranges)


def fetch_pieces(store: ObjectStore, key: str, pack_size: int, pieces: list[Piece]) -> PackBytes:
    """``pieces`` of one pack: whole when wants_whole says so, else by ranges."""
    if wants_whole(pack_size, pieces):
        return fetch_whole(store, key, pack_size)
    return fetch_ranges(store, key, pieces)


def _ranges(pieces: list[Piece]) -> Iterator[tuple[int, int]]:
    """Merge offset-sorted pieces into byte ranges separated by gaps of at least MAX_GAP."""
    start = end = -1
    for offset, length in pieces:
        if start >= 0 and offset - end >= MAX_GAP:
            yield start, end
            start = -1
        if start < 0:
            start = end = offset
        end = max(end, offset + length)
    if start >= 0:
        yield start, end


class BatchFetcher:
    """Starts fetching the packs each batch of chunks needs, one task per pack.

    A pack the previous batch fetched whole is not fetched again; one it read by ranges is
    read by ranges again (the rest only), never whole: when chunks were stored in the
    order batches are cut (path order, stream order), every byte is fetched once although
    a pack straddles two batches.
    """

    def __init__(self, store: ObjectStore, packs: Sequence[str], pack_sizes: Sequence[int]) -> None:
        self._store = store
        self._packs = packs
        self._sizes = pack_sizes
        self._whole: dict[int, Future[PackBytes]] = {}  # packs the last batch fetched whole
        self._ranged: set[int] = set()  # packs the last batch read by ranges

    def fetch(
        self, pool: ThreadPoolExecutor, pieces: Iterable[tuple[int, int, int]]
    ) -> dict[int, Future[PackBytes]]:
        """Futures of the packs holding ``pieces`` (pack, offset, stored length), by pack."""
        by_pack: dict[int, list[Piece]] = {}
        for pack, offset, length in pieces:
            by_pack.setdefault(pack, []).append((offset, length))
        fetches: dict[int, Future[PackBytes]] = {}
        whole: dict[int, Future[PackBytes]] = {}
        for pack, wanted in by_pack.items():
            key, size = self._packs[pack], self._sizes[pack]
            future = self._whole.get(pack)
            if future is None and pack not in self._ranged and wants_whole(size, wanted):
                future = pool.submit(fetch_whole, self._store, key, size)
            if future is not None:
                whole[pack] = future
            else:
                future = pool.submit(fetch_ranges, self._store, key, wanted)
            fetches[pack] = future
        self._whole = whole
        self._ranged = set(fetches) - set(whole)
        return fetches
