"""The manifest: a backup's complete block map plus its catalog record (format v3).

Byte layout (little-endian; docs/format.md is the normative description)::

    prelude   16 bytes  "<8sHHI": b"SAFEHOLD", version=3 (1 and 2 are read too), kind=1,
                        flags=0
    body      one zstd frame (with content size) holding:
                u32 header_len, header_len bytes of UTF-8 JSON header (v3: "digest" names
                                           the algorithm of every digest below)
                segment_count x "<IIQ32s": owner index, seq, size, digest of the object
                block_count   x "<III32s": segment index (0xFFFFFFFF = hole; bit 31 set =
                                           a page patch), offset, compressed length,
                                           digest of the block's bytes
                patch_count   x "<III32s": (v2+) the base frame of each patch entry, in
                                           block order: segment index, offset, length,
                                           digest of the base's bytes
    trailer   32 bytes  sha256 of prelude + body

Digests are SHA-256 in v1 and v2, and the header's algorithm in v3 (storage.format.digest).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import zstandard

from storage.errors import CorruptData, InvalidKey
from storage.format.digest import ALGORITHMS, SHA256
from storage.format.segment import SEGMENT_PRELUDE, SegmentRef
from storage.layout import MAX_SEGMENT_SEQ, manifest_key, validate_backup_id
from storage.objects import ObjectStore

MANIFEST_MAGIC = b"SAFEHOLD"
MANIFEST_VERSION = 3
READABLE_VERSIONS = frozenset({1, 2, 3})
KIND_BLOCK_VOLUME = 1
PRELUDE = struct.Struct("<8sHHI")
HEADER_LEN = struct.Struct("<I")
SEGMENT_ENTRY = struct.Struct("<IIQ32s")
BLOCK_ENTRY = struct.Struct("<III32s")
BASE_ENTRY = struct.Struct("<III32s")
HOLE = 0xFFFFFFFF
# Bit 31 of a block entry's segment field: the frame is a page patch over a base frame.
PATCH = 0x80000000
ZERO_HASH = bytes(32)
TRAILER_LEN = 32
_MANIFEST_ZSTD_LEVEL = 3


@dataclass(frozen=True)
class BlockEntry:
    """Where block ``index`` lives: a frame in segment-table entry ``segment``, or a hole.

    A patch entry's frame holds only the pages that differ from ``base``, the
    (segment, offset, length, digest) of a whole-block frame (storage.format.patch)."""

    index: int
    segment: int
    offset: int
    length: int
    digest: bytes
    base: tuple[int, int, int, bytes] | None = None

    @property
    def is_hole(self) -> bool:
        """True if the block is all zeros and not stored."""
        return self.segment == HOLE

    @property
    def is_patch(self) -> bool:
        """True if the frame is a page patch over ``base``."""
        return self.base is not None


@dataclass(frozen=True)
class Manifest:
    """A decoded manifest; ``blocks`` stays packed (BLOCK_ENTRY rows) to stay small at TB."""

    backup_id: str
    parent_id: str | None
    volume_size: int
    block_size: int
    record: dict[str, Any]
    segments: tuple[SegmentRef, ...]
    blocks: bytes
    created_at: str = ""
    stats: dict[str, int] = field(default_factory=dict)
    bases: bytes = b""  # packed BASE_ENTRY rows, one per patch entry in block order
    algorithm: str = SHA256  # of every digest in the tables (v1 and v2: SHA-256)

    @property
    def block_count(self) -> int:
        """Number of blocks, the last possibly short."""
        return len(self.blocks) // BLOCK_ENTRY.size

    def block_length(self, index: int) -> int:
        """Uncompressed length of block ``index`` (only the last block may be short)."""
        return min(self.block_size, self.volume_size - index * self.block_size)

    @property
    def patch_count(self) -> int:
        """Number of patch entries (rows of the base table)."""
        return len(self.bases) // BASE_ENTRY.size

    @cached_property
    def _patch_rank(self) -> dict[int, int]:
        """Block index -> its row in the base table, for every patch entry."""
        ranks: dict[int, int] = {}
        for index, (segment, *_) in enumerate(BLOCK_ENTRY.iter_unpack(self.blocks)):
            if segment != HOLE and segment & PATCH:
                ranks[index] = len(ranks)
        return ranks

    def _entry(self, index: int, row: tuple[int, int, int, bytes]) -> BlockEntry:
        segment, offset, length, sha = row
        if segment == HOLE or not segment & PATCH:
            return BlockEntry(index, segment, offset, length, sha)
        base = BASE_ENTRY.unpack_from(self.bases, self._patch_rank[index] * BASE_ENTRY.size)
        return BlockEntry(index, segment & ~PATCH, offset, length, sha, base)

    def block(self, index: int) -> BlockEntry:
        """The entry of block ``index``; raises IndexError."""
        if not 0 <= index < self.block_count:
            raise IndexError(index)
        return self._entry(index, BLOCK_ENTRY.unpack_from(self.blocks, index * BLOCK_ENTRY.size))

    def iter_blocks(self) -> Iterator[BlockEntry]:
        """Every block entry in volume order."""
        for index, row in enumerate(BLOCK_ENTRY.iter_unpack(self.blocks)):
            yield self._entry(index, row)

    def block_hash(self, index: int) -> bytes:
        """The digest of block ``index``'s bytes (32 zero bytes for a hole)."""
        start = index * BLOCK_ENTRY.size + 12
        return self.blocks[start : start + 32]

    def owners(self) -> frozenset[str]:
        """Ids of every backup owning a segment this manifest references (incl. itself)."""
        return frozenset(ref.owner for ref in self.segments)

    def stored_bytes(self, owner: str | None = None) -> int:
        """Bytes of the referenced segments owned by ``owner`` (default: this backup)."""
        who = self.backup_id if owner is None else owner
        return sum(ref.size for ref in self.segments if ref.owner == who)

    def to_bytes(self) -> bytes:
        """Encode as a v3 manifest object (deterministic for equal fields)."""
        owners = sorted(self.owners())
        owner_index = {owner: i for i, owner in enumerate(owners)}
        header = {
            "backup_id": self.backup_id,
            "parent_id": self.parent_id,
            "created_at": self.created_at,
            "digest": self.algorithm,
            "volume_size": self.volume_size,
            "block_size": self.block_size,
            "block_count": self.block_count,
            "segment_count": len(self.segments),
            "patch_count": self.patch_count,
            "owners": owners,
            "record": self.record,
            "stats": self.stats,
        }
        header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        body = b"".join(
            [
                HEADER_LEN.pack(len(header_bytes)),
                header_bytes,
                *(
                    SEGMENT_ENTRY.pack(owner_index[r.owner], r.seq, r.size, r.digest)
                    for r in self.segments
                ),
                self.blocks,
                self.bases,
            ]
        )
        compressed = zstandard.ZstdCompressor(level=_MANIFEST_ZSTD_LEVEL).compress(body)
        prelude = PRELUDE.pack(MANIFEST_MAGIC, MANIFEST_VERSION, KIND_BLOCK_VOLUME, 0)
        digest = hashlib.sha256(prelude)
        digest.update(compressed)
        return b"".join([prelude, compressed, digest.digest()])

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Decode and fully validate a manifest object; raises CorruptData."""
        body = _unwrap(data)
        try:
            return _decode_body(body, version=PRELUDE.unpack_from(data)[1])
        except (KeyError, TypeError, ValueError, IndexError, struct.error, InvalidKey) as exc:
            raise CorruptData(f"manifest is malformed: {type(exc).__name__}: {exc}") from exc


def _unwrap(data: bytes) -> bytes:
    """Check prelude and trailer, return the decompressed body; raises CorruptData."""
    if len(data) < PRELUDE.size + TRAILER_LEN:
        raise CorruptData("manifest is truncated")
    magic, version, kind, flags = PRELUDE.unpack_from(data)
    if magic != MANIFEST_MAGIC:
        raise CorruptData("not a Safehold manifest (bad magic)")
    if version not in READABLE_VERSIONS or kind != KIND_BLOCK_VOLUME or flags != 0:
        raise CorruptData(f"unsupported manifest version {version} kind {kind} flags {flags}")
    if hashlib.sha256(data[:-TRAILER_LEN]).digest() != data[-TRAILER_LEN:]:
        raise CorruptData("manifest checksum mismatch (truncated or corrupted)")
    try:
        body: bytes = zstandard.ZstdDecompressor().decompress(data[PRELUDE.size : -TRAILER_LEN])
    except zstandard.ZstdError as exc:
        raise CorruptData(f"manifest body does not decompress: {exc}") from exc
    return body


def _decode_body(body: bytes, *, version: int) -> Manifest:
    """Parse and cross-check the decompressed body; lets parsing errors escape."""
    (header_len,) = HEADER_LEN.unpack_from(body)
    pos = HEADER_LEN.size + header_len
    header = json.loads(body[HEADER_LEN.size : pos].decode("utf-8"))
    volume_size, block_size = int(header["volume_size"]), int(header["block_size"])
    block_count, segment_count = int(header["block_count"]), int(header["segment_count"])
    owners = [validate_backup_id(str(o)) for o in header["owners"]]
    if volume_size < 0 or block_size <= 0 or block_count != -(-volume_size // block_size):
        raise ValueError("volume_size, block_size and block_count disagree")
    patch_count = int(header["patch_count"]) if version >= 2 else 0
    algorithm = str(header["digest"]) if version >= 3 else SHA256
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown digest algorithm {algorithm!r}")
    blocks_at = pos + segment_count * SEGMENT_ENTRY.size
    bases_at = blocks_at + block_count * BLOCK_ENTRY.size
    if patch_count < 0 or len(body) != bases_at + patch_count * BASE_ENTRY.size:
        raise ValueError("body length does not match the table sizes")
    segments = tuple(
        SegmentRef(owners[o], seq, size, sha)
        for o, seq, size, sha in SEGMENT_ENTRY.iter_unpack(body[pos:blocks_at])
    )
    if any(r.seq > MAX_SEGMENT_SEQ or r.size < SEGMENT_PRELUDE.size for r in segments):
        raise ValueError("segment table entry out of range")
    blocks, bases = body[blocks_at:bases_at], body[bases_at:]
    patches = 0
    for seg, offset, length, sha in BLOCK_ENTRY.iter_unpack(blocks):
        if seg == HOLE:
            if offset or length or sha != ZERO_HASH:
                raise ValueError("hole entry with data fields set")
            continue
        patches += 1 if seg & PATCH else 0
        _check_frame(segments, seg & ~PATCH, offset, length)
    if patches != patch_count:
        raise ValueError(f"{patches} patch entries but a base table of {patch_count}")
    for seg, offset, length, _sha in BASE_ENTRY.iter_unpack(bases):
        _check_frame(segments, seg, offset, length)
    backup_id = validate_backup_id(str(header["backup_id"]))
    parent_id = header.get("parent_id")
    record, stats = header.get("record", {}), header.get("stats", {})
    if not isinstance(record, dict) or not isinstance(stats, dict):
        raise TypeError("record and stats must be JSON objects")
    return Manifest(
        backup_id=backup_id,
        parent_id=None if parent_id is None else validate_backup_id(str(parent_id)),
        volume_size=volume_size,
        block_size=block_size,
        record=record,
        segments=segments,
        blocks=blocks,
        created_at=str(header.get("created_at", "")),
        stats=stats,
        bases=bases,
        algorithm=algorithm,
    )


def _check_frame(segments: tuple[SegmentRef, ...], seg: int, offset: int, length: int) -> None:
    """A frame reference must lie inside a listed segment, after its prelude."""
    if offset < SEGMENT_PRELUDE.size or not length or offset + length > segments[seg].size:
        raise ValueError("block entry points outside its segment")


def read_manifest(store: ObjectStore, backup_id: str) -> Manifest:
    """Fetch and verify a backup's manifest; raises ObjectNotFound or CorruptData."""
    manifest = Manifest.from_bytes(store.get(manifest_key(backup_id)))
    if manifest.backup_id != backup_id:
        raise CorruptData(f"manifest of {backup_id} names backup {manifest.backup_id}")
    return manifest


def manifest_exists(store: ObjectStore, backup_id: str) -> bool:
    """True if the backup is committed (its manifest object exists); no content check."""
    return store.exists(manifest_key(backup_id))
