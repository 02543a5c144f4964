"""Content-defined chunks: FastCDC 2020 cut points, sha256 ids, zstd or raw stored forms.

A *span* is the unit of work of the thread pool: up to ``ChunkParams.span`` bytes of one
data extent, read with pread, cut with FastCDC, hashed and (when new) compressed. Chunking
restarts at every data extent and every span boundary inside an extent, so spans of one
large file are independent and run in parallel; the cost is at most one extra cut per span
(32 average chunks) where an insertion shifted the data.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import zstandard
from pyfastcdc import FastCDC

from storage.errors import CorruptData, Stopped
from storage.format.segment import compressor, decompressor

# One chunk-table row: sha256, pack index, offset in the pack, stored and raw lengths, flags.
CHUNK_ROW = struct.Struct("<32sIQIIB")
CHUNK_COMPRESSED = 1  # flag: the stored form is one zstd frame (else the raw bytes)
MIN_AVG_CHUNK = 1024
MAX_AVG_CHUNK = 4 << 20  # FastCDC's own limit (max = 4 x avg must stay <= 16 MiB)
SPAN_CHUNKS = 32  # a span is this many average chunks
# A stored form must save at least 3 % to be kept compressed: below that, decompressing on
# restore costs more than the bytes saved.
_MIN_SAVING_PERCENT = 3
# After a chunk failed to compress, later chunks of the same span are first probed with
# this many bytes; only a probe that compresses earns the whole chunk a try.
_PROBE = 64 * 1024

_local = threading.local()


@dataclass(frozen=True)
class ChunkParams:
    """FastCDC parameters of a backup (recorded in the manifest)."""

    avg: int
    min: int
    max: int
    span: int

    @classmethod
    def for_average(cls, avg: int) -> ChunkParams:
        """min = avg/4, max = avg*4, span = 32 avg; ValueError unless avg is a power of 2
        within 1 KiB..4 MiB."""
        if avg & (avg - 1) or not MIN_AVG_CHUNK <= avg <= MAX_AVG_CHUNK:
            raise ValueError(f"avg_chunk {avg} must be a power of two within 1 KiB..4 MiB")
        return cls(avg=avg, min=avg // 4, max=avg * 4, span=avg * SPAN_CHUNKS)

    def as_dict(self) -> dict[str, int | str]:
        """The manifest's ``chunking`` field."""
        return {
            "algorithm": "fastcdc2020",
            "hash": "sha256",
            "avg": self.avg,
            "min": self.min,
            "max": self.max,
            "span": self.span,
        }


class ChunkRow(NamedTuple):
    """One decoded chunk-table row."""

    sha256: bytes
    pack: int
    offset: int
    stored_len: int
    raw_len: int
    flags: int

    @property
    def compressed(self) -> bool:
        """True if the stored form is a zstd frame."""
        return bool(self.flags & CHUNK_COMPRESSED)


@dataclass(frozen=True, slots=True)
class SpanChunk:
    """A chunk cut from a span: where it is in the file, its id and (if new) stored form."""

    offset: int
    length: int
    sha256: bytes
    payload: bytes | None  # None: the id was already known, nothing to store
    compressed: bool


@dataclass(frozen=True, slots=True)
class SpanResult:
    """What a worker made of one span; ``read`` < the span's length means EOF came early."""

    chunks: list[SpanChunk]
    read: int


def read_at(fd: int, buf: memoryview, offset: int) -> int:
    """Fill ``buf`` from ``offset`` (one pread); returns bytes read, 0 at EOF.

    A module-level seam: tests replace it to change a file while it is being read.
    """
    return os.preadv(fd, [buf], offset)


def chunker(params: ChunkParams) -> FastCDC:
    """This thread's FastCDC instance (instances are not thread-safe)."""
    cache: dict[ChunkParams, FastCDC] | None = getattr(_local, "chunkers", None)
    if cache is None:
        cache = _local.chunkers = {}
    if params not in cache:
        cache[params] = FastCDC(params.avg, min_size=params.min, max_size=params.max)
    return cache[params]


def _worth(stored: int, raw: int) -> bool:
    return stored * 100 <= raw * (100 - _MIN_SAVING_PERCENT)


def _read_span(fd: int, start: int, length: int) -> memoryview:
    """Read ``length`` bytes from ``start``, fewer only at EOF (the file shrank)."""
    buf = bytearray(length)
    view = memoryview(buf)
    got = 0
    while got < length:
        n = read_at(fd, view[got:], start + got)
        if n <= 0:
            break
        got += n
    return view[:got]


def encode_span(
    fd: int,
    start: int,
    length: int,
    *,
    params: ChunkParams,
    level: int,
    known: Callable[[bytes], bool],
    halt: Callable[[], bool],
) -> SpanResult:
    """Read, cut, hash and (for chunks ``known`` does not know) compress one span.

    Runs on a pool thread: hashlib, zstandard, preadv and FastCDC release the GIL.
    ``halt`` is polled between chunks; when it says so the span ends with Stopped.
    """
    data = _read_span(fd, start, length)
    chunks: list[SpanChunk] = []
    probing = False
    for cut in chunker(params).cut_buf(data) if len(data) else ():
        if halt():
            raise Stopped("tree backup stopped while chunking")
        piece = cut.data
        sha = hashlib.sha256(piece).digest()
        if known(sha):
            chunks.append(SpanChunk(start + cut.offset, cut.length, sha, None, False))
            continue
        payload, compressed = store_form(piece, level, probing)
        probing = not compressed
        chunks.append(SpanChunk(start + cut.offset, cut.length, sha, payload, compressed))
    return SpanResult(chunks, len(data))


def store_form(piece: memoryview, level: int, probing: bool) -> tuple[bytes, bool]:
    """(stored bytes, compressed?) of a new chunk; raw unless zstd saves >= 3 %."""
    raw_len = len(piece)
    if probing and raw_len > 2 * _PROBE:
        sample = compressor(level).compress(piece[:_PROBE])
        if not _worth(len(sample), _PROBE):
            return bytes(piece), False
    frame = compressor(level).compress(piece)
    if _worth(len(frame), raw_len):
        return frame, True
    return bytes(piece), False


def decode_chunk(stored: bytes | memoryview, row: ChunkRow) -> bytes | memoryview:
    """The raw bytes of a fetched chunk, length and sha256 verified; raises CorruptData."""
    data: bytes | memoryview
    if row.compressed:
        try:
            if zstandard.frame_content_size(stored) != row.raw_len:
                raise CorruptData("chunk frame declares another size")
            data = decompressor().decompress(stored)
        except zstandard.ZstdError as exc:
            raise CorruptData(f"chunk frame does not decompress: {exc}") from exc
    else:
        data = stored
    if len(data) != row.raw_len or hashlib.sha256(data).digest() != row.sha256:
        raise CorruptData("chunk checksum mismatch")
    return data
