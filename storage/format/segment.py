"""Data segments: a 16-byte prelude followed by independent zstd frames, one per block.

Frames are independent so that one block can be fetched with a ranged read and
decompressed alone; the prelude makes a segment recognisable on its own.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import zstandard

from storage.errors import CorruptData
from storage.format.digest import digest
from storage.layout import segment_key

SEGMENT_MAGIC = b"SAFEHSEG"
SEGMENT_VERSION = 1
CODEC_ZSTD = 1
# magic, format version, codec, reserved flags (must be 0)
SEGMENT_PRELUDE = struct.Struct("<8sHHI")
SEGMENT_HEADER = SEGMENT_PRELUDE.pack(SEGMENT_MAGIC, SEGMENT_VERSION, CODEC_ZSTD, 0)

_local = threading.local()


@dataclass(frozen=True)
class SegmentRef:
    """One entry of a manifest's segment table: which object, how big, its digest (by the
    manifest's algorithm: storage.format.digest)."""

    owner: str
    seq: int
    size: int
    digest: bytes

    @property
    def key(self) -> str:
        """The object key of the segment (under its owner's prefix)."""
        return segment_key(self.owner, self.seq)


def compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor for ``level`` (zstd contexts are not thread-safe)."""
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    if level not in cache:
        # Content size in the frame header lets a reader check it before decompressing;
        # zstd's own checksum is redundant with the per-block digest.
        cache[level] = zstandard.ZstdCompressor(level=level, write_content_size=True)
    return cache[level]


def decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor."""
    d: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


def decode_frame(
    frame: bytes | memoryview, expected_len: int, expected: bytes, *, algorithm: str
) -> bytes:
    """Decompress one block frame and verify its length and its digest by ``algorithm``;
    raises CorruptData."""
    data = inflate_block(frame, expected_len)
    if digest(algorithm, data) != expected:
        raise CorruptData("block checksum mismatch")
    return data


def inflate_block(frame: bytes | memoryview, expected_len: int) -> bytes:
    """Decompress one block frame and verify its length only (the caller verifies the
    content some other way); raises CorruptData."""
    try:
        if zstandard.frame_content_size(frame) != expected_len:
            raise CorruptData(f"block frame declares a size other than {expected_len}")
    except zstandard.ZstdError as exc:
        raise CorruptData(f"block frame does not decompress: {exc}") from exc
    data = decompress_frame(frame)
    if len(data) != expected_len:
        raise CorruptData(f"block frame holds {len(data)} bytes, not {expected_len}")
    return data


def decompress_frame(frame: bytes | memoryview) -> bytes:
    """Decompress one frame (its header declares its size); raises CorruptData."""
    try:
        data: bytes = decompressor().decompress(frame)
    except zstandard.ZstdError as exc:
        raise CorruptData(f"frame does not decompress: {exc}") from exc
    return data


def check_segment(data: bytes, ref: SegmentRef) -> None:
    """Verify a whole fetched segment's length and prelude against its table entry; raises
    CorruptData. Its digest is not checked here: a reader verifies every frame it uses
    by its block digest (docs/format.md §4), and hashing the segment again cost a fifth
    of a restore's CPU."""
    if len(data) != ref.size:
        raise CorruptData(f"segment {ref.key} has {len(data)} bytes, expected {ref.size}")
    check_segment_header(data[: SEGMENT_PRELUDE.size], ref)


def check_segment_header(prelude: bytes, ref: SegmentRef) -> None:
    """Verify a segment's prelude (magic, version, codec, flags); raises CorruptData."""
    if len(prelude) < SEGMENT_PRELUDE.size:
        raise CorruptData(f"segment {ref.key} is truncated")
    magic, version, codec, flags = SEGMENT_PRELUDE.unpack_from(prelude)
    if magic != SEGMENT_MAGIC:
        raise CorruptData(f"segment {ref.key} has a bad magic number")
    if version != SEGMENT_VERSION or codec != CODEC_ZSTD or flags != 0:
        raise CorruptData(f"segment {ref.key} has unsupported version/codec/flags")


class SegmentBuilder:
    """Collects frames for one segment in one buffer, so sealing copies nothing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray(SEGMENT_HEADER)

    @property
    def size(self) -> int:
        """Bytes so far, prelude included."""
        return len(self._data)

    @property
    def empty(self) -> bool:
        """True while no frame has been added."""
        return len(self._data) == SEGMENT_PRELUDE.size

    def fits(self, frame_len: int) -> bool:
        """True if the frame keeps the segment within the limit (an empty one takes any)."""
        return self.empty or self.size + frame_len <= self.limit

    def add(self, frame: bytes) -> int:
        """Append a frame and return its offset within the segment object."""
        offset = len(self._data)
        self._data += frame
        return offset

    def seal(self) -> bytearray:
        """The segment object's bytes (the buffer itself, handed over; a new one starts)."""
        data, self._data = self._data, bytearray(SEGMENT_HEADER)
        return data
