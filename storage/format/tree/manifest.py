"""The tree manifest: a share backup's entries, chunk table, pack list and catalog record.

Byte layout (docs/format.md, "Tree backups", is normative)::

    prelude   16 bytes  "<8sHHI": b"SAFEHOLD", version=1, kind=2 (directory tree), flags=0
    digest    32 bytes  sha256 of every byte after it (the compressed body)
    body      one zstd frame (content size present) holding a msgpack stream:
                header     map: version, kind, share_id, backup_id, parent_id, created_at,
                           started_ns, record, stats, chunking, packs [[name, size], ...],
                           chunk_count, entry_count, size_bytes
                chunks     bin: chunk_count x "<32sIQIIB" rows (see chunking.CHUNK_ROW)
                entries    entry_count msgpack arrays in path-byte order (see entries.py)

Decoding checks everything a restore relies on, so restore and delete trust a decoded
manifest: order, parents, hard-link targets, chunk and pack references, extents.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]
import zstandard

from storage.errors import CorruptData, InvalidKey
from storage.format.tree.chunking import CHUNK_COMPRESSED, CHUNK_ROW, ChunkParams, ChunkRow
from storage.format.tree.entries import (
    FLAG_CHANGED,
    FLAG_LINKED,
    Entry,
    Kind,
    entry_from_array,
)
from storage.format.tree.packs import PACK_HEADER
from storage.layout import (
    is_tree_manifest_key,
    packs_prefix,
    parse_pack_name,
    parse_tree_manifest_key,
    shares_listing_prefix,
    tree_manifest_key,
    validate_backup_id,
    validate_share_id,
)
from storage.objects import ObjectStore

TREE_MAGIC = b"SAFEHOLD"
TREE_VERSION = 1
KIND_DIRECTORY_TREE = 2
PRELUDE = struct.Struct("<8sHHI")
DIGEST_LEN = 32
_ZSTD_LEVEL = 3
_READ_SIZE = 1 << 20
_STAT_COUNTERS = (
    "files",
    "directories",
    "symlinks",
    "hardlinks",
    "specials",
    "bytes_total",
    "bytes_read",
    "bytes_reused",
    "chunks_new",
    "chunks_deduplicated",
    "stored_bytes",
    "packs_written",
)


@dataclass(frozen=True)
class TreeStats:
    """What a tree backup found and did (counters; paths that changed while read)."""

    files: int = 0
    directories: int = 0  # the root included
    symlinks: int = 0
    hardlinks: int = 0  # paths recorded as links to an earlier path
    specials: int = 0  # FIFOs and device nodes
    bytes_total: int = 0  # apparent size of all regular files (each inode once)
    bytes_read: int = 0  # bytes read from disk (reused files are not read)
    bytes_reused: int = 0  # bytes of files taken from the parent without reading
    chunks_new: int = 0
    chunks_deduplicated: int = 0  # chunks read whose id this backup or its parent had
    stored_bytes: int = 0  # bytes of the packs this backup wrote
    packs_written: int = 0
    changed_while_read: tuple[str, ...] = ()  # os.fsdecode'd paths

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able dict (changed_while_read as a list)."""
        result = dataclasses.asdict(self)
        result["changed_while_read"] = list(self.changed_while_read)
        return result

    def counters(self) -> dict[str, int]:
        """The integer counters (what the manifest header stores)."""
        return {name: int(getattr(self, name)) for name in _STAT_COUNTERS}


class TreeManifest:
    """A decoded, verified tree manifest; entries stay encoded and decode on iteration."""

    def __init__(
        self,
        *,
        header: dict[str, Any],
        chunk_rows: bytes,
        entries: bytes,
        stats: TreeStats,
        manifest_bytes: int,
    ) -> None:
        self.share_id: str = header["share_id"]
        self.backup_id: str = header["backup_id"]
        self.parent_id: str | None = header["parent_id"]
        self.created_at: str = header["created_at"]
        self.record: dict[str, Any] = header["record"]
        self.size_bytes: int = header["size_bytes"]
        self.started_ns: int = header["started_ns"]
        self.entry_count: int = header["entry_count"]
        self.chunking = ChunkParams(**{k: header["chunking"][k] for k in _PARAM_KEYS})
        self.pack_names: tuple[str, ...] = tuple(name for name, _ in header["packs"])
        self.pack_sizes: tuple[int, ...] = tuple(size for _, size in header["packs"])
        self.packs: tuple[str, ...] = tuple(
            packs_prefix(self.share_id) + name for name in self.pack_names
        )
        self.chunk_rows = chunk_rows
        self.stats = stats
        self.manifest_bytes = manifest_bytes
        self._entries = entries

    def __repr__(self) -> str:
        return (
            f"TreeManifest(share_id={self.share_id!r}, backup_id={self.backup_id!r}, "
            f"entries={self.entry_count}, chunks={self.chunk_count}, packs={len(self.packs)})"
        )

    @property
    def chunk_count(self) -> int:
        """Rows in the chunk table."""
        return len(self.chunk_rows) // CHUNK_ROW.size

    def chunk(self, index: int) -> ChunkRow:
        """Chunk-table row ``index``; raises IndexError."""
        if not 0 <= index < self.chunk_count:
            raise IndexError(index)
        return ChunkRow(*CHUNK_ROW.unpack_from(self.chunk_rows, index * CHUNK_ROW.size))

    def chunk_hashes(self) -> dict[bytes, int]:
        """sha256 -> row index of every chunk (what an incremental deduplicates against)."""
        rows = self.chunk_rows
        size = CHUNK_ROW.size
        return {rows[i : i + 32]: n for n, i in enumerate(range(0, len(rows), size))}

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry in path-byte order (the root first)."""
        for array in _entry_arrays(self._entries, self.entry_count):
            yield entry_from_array(array, self.chunk_count)

    def iter_arrays(self) -> Iterator[list[Any]]:
        """Every entry's raw msgpack array (see entries.py), in path-byte order.

        For hot loops that need a few fields of most entries: the arrays were type-checked
        when the manifest was decoded, so they can be trusted without building Entry objects.
        """
        yield from _entry_arrays(self._entries, self.entry_count)

    @property
    def own_packs(self) -> tuple[str, ...]:
        """Keys of the referenced packs this backup wrote."""
        return tuple(
            key
            for key, name in zip(self.packs, self.pack_names, strict=True)
            if parse_pack_name(name)[0] == self.backup_id
        )

    @property
    def own_stored_bytes(self) -> int:
        """Bytes of this backup's own packs plus its manifest."""
        own = sum(
            size
            for name, size in zip(self.pack_names, self.pack_sizes, strict=True)
            if parse_pack_name(name)[0] == self.backup_id
        )
        return own + self.manifest_bytes


_PARAM_KEYS = ("avg", "min", "max", "span")


def encode_manifest(header: dict[str, Any], chunk_rows: bytes, entries: bytes) -> bytes:
    """The manifest object for a header, a chunk table and an encoded entry stream."""
    body = b"".join([msgpack.packb(header, use_bin_type=True), msgpack.packb(chunk_rows), entries])
    compressed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True).compress(body)
    prelude = PRELUDE.pack(TREE_MAGIC, TREE_VERSION, KIND_DIRECTORY_TREE, 0)
    return b"".join([prelude, hashlib.sha256(compressed).digest(), compressed])


def _unwrap(data: bytes) -> bytes:
    """Check prelude and digest; the decompressed body. Raises CorruptData."""
    if len(data) < PRELUDE.size + DIGEST_LEN:
        raise CorruptData("tree manifest is truncated")
    magic, version, kind, flags = PRELUDE.unpack_from(data)
    if magic != TREE_MAGIC:
        raise CorruptData("not a Safehold manifest (bad magic)")
    if version != TREE_VERSION or kind != KIND_DIRECTORY_TREE or flags != 0:
        raise CorruptData(f"unsupported tree manifest version {version} kind {kind} flags {flags}")
    digest = data[PRELUDE.size : PRELUDE.size + DIGEST_LEN]
    compressed = memoryview(data)[PRELUDE.size + DIGEST_LEN :]
    if hashlib.sha256(compressed).digest() != digest:
        raise CorruptData("tree manifest checksum mismatch (truncated or corrupted)")
    try:
        body: bytes = zstandard.ZstdDecompressor().decompress(compressed)
    except zstandard.ZstdError as exc:
        raise CorruptData(f"tree manifest body does not decompress: {exc}") from exc
    return body


def _unpacker(data: bytes | memoryview) -> msgpack.Unpacker:
    """A streaming unpacker over ``data`` (no copy of the whole buffer)."""
    limit = max(min(len(data), (1 << 32) - 1), _READ_SIZE)
    return msgpack.Unpacker(
        io.BytesIO(data), read_size=_READ_SIZE, raw=False, max_buffer_size=limit
    )


def _entry_arrays(entries: bytes, count: int) -> Iterator[Any]:
    unpacker = _unpacker(entries)
    for _ in range(count):
        yield unpacker.unpack()


def decode_manifest(data: bytes) -> TreeManifest:
    """Decode and fully verify a tree manifest object; raises CorruptData."""
    body = _unwrap(data)
    try:
        unpacker = _unpacker(body)
        header = _check_header(unpacker.unpack())
        chunk_rows = unpacker.unpack()
        if type(chunk_rows) is not bytes or len(chunk_rows) != header["chunk_count"] * (
            CHUNK_ROW.size
        ):
            raise ValueError("chunk table length does not match chunk_count")
        entries = body[unpacker.tell() :]
        _check_chunks(chunk_rows, header["packs"])
        changed = _check_entries(entries, header["entry_count"], header["chunk_count"], chunk_rows)
        counters = {name: header["stats"][name] for name in _STAT_COUNTERS}
        stats = TreeStats(**counters, changed_while_read=changed)
        return TreeManifest(
            header=header,
            chunk_rows=chunk_rows,
            entries=entries,
            stats=stats,
            manifest_bytes=len(data),
        )
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        struct.error,
        InvalidKey,
        msgpack.UnpackException,
    ) as exc:
        raise CorruptData(f"tree manifest is malformed: {type(exc).__name__}: {exc}") from exc


def _check_header(header: Any) -> dict[str, Any]:
    """Type-check the header map; ValueError/KeyError/TypeError/InvalidKey otherwise."""
    if not isinstance(header, dict):
        raise TypeError("header is not a map")
    if header["version"] != TREE_VERSION:
        raise ValueError(f"header version {header['version']!r}")
    validate_share_id(header["share_id"])
    validate_backup_id(header["backup_id"])
    if header["parent_id"] is not None:
        validate_backup_id(header["parent_id"])
    if not isinstance(header["record"], dict) or not isinstance(header["created_at"], str):
        raise TypeError("record must be a map and created_at a string")
    for key in ("chunk_count", "entry_count", "size_bytes", "started_ns"):
        if type(header[key]) is not int or header[key] < 0:
            raise ValueError(f"header {key} is not a count")
    stats = header["stats"]
    if not isinstance(stats, dict) or any(type(stats.get(k)) is not int for k in _STAT_COUNTERS):
        raise ValueError("header stats lack a counter or hold a non-integer one")
    params = header["chunking"]
    ChunkParams.for_average(params["avg"])  # a sane average; min/max/span as recorded
    if any(type(params[k]) is not int or params[k] <= 0 for k in _PARAM_KEYS):
        raise ValueError("chunking parameters must be positive integers")
    packs = header["packs"]
    if not isinstance(packs, list):
        raise TypeError("packs is not an array")
    for pack in packs:
        if not isinstance(pack, list) or len(pack) != 2 or type(pack[1]) is not int:
            raise ValueError("pack entry is not [name, size]")
        if not isinstance(pack[0], str):
            raise TypeError("pack name is not a string")
        parse_pack_name(pack[0])
        if pack[1] < PACK_HEADER.size:
            raise ValueError(f"pack {pack[0]} is smaller than its header")
    if len({name for name, _ in packs}) != len(packs):
        raise ValueError("packs are listed twice")
    return header


def _check_chunks(rows: bytes, packs: list[list[Any]]) -> None:
    """Every row points inside a listed pack, past its header; flags are known."""
    for _sha, pack, offset, stored, raw, flags in CHUNK_ROW.iter_unpack(rows):
        if pack >= len(packs) or flags & ~CHUNK_COMPRESSED or not stored or not raw:
            raise ValueError("chunk row has a bad pack index, flags or length")
        if offset < PACK_HEADER.size or offset + stored > packs[pack][1]:
            raise ValueError("chunk row points outside its pack")
        if not flags & CHUNK_COMPRESSED and stored != raw:
            raise ValueError("raw chunk row with stored length other than raw length")


def _check_entries(entries: bytes, count: int, chunk_count: int, rows: bytes) -> tuple[str, ...]:
    """Cross-entry rules; returns the paths flagged as changed while read.

    Paths strictly increase (so no duplicates, parents before children), the first is the
    root directory, every parent is a directory entry, a hard link names an earlier
    linked path, file runs are ordered, do not overlap and stay within the size.
    """
    dirs: set[bytes] = set()
    linked: set[bytes] = set()
    changed: list[str] = []
    previous: bytes | None = None
    unpacker = _unpacker(entries)
    for n in range(count):
        entry = entry_from_array(unpacker.unpack(), chunk_count)
        if n == 0:
            if entry.path != b"" or entry.kind != Kind.DIR:
                raise ValueError("the first entry is not the root directory")
        elif previous is None or entry.path <= previous or entry.parent not in dirs:
            raise ValueError(f"entry {entry.path[:80]!r} is out of order or has no parent")
        previous = entry.path
        if entry.kind == Kind.DIR:
            dirs.add(entry.path)
        if entry.flags & FLAG_LINKED:
            if entry.kind in (Kind.DIR, Kind.HARDLINK):
                raise ValueError(f"entry {entry.path[:80]!r} cannot be a hard-link target")
            linked.add(entry.path)
        if entry.flags & FLAG_CHANGED and entry.kind != Kind.FILE:
            raise ValueError(f"entry {entry.path[:80]!r} is flagged changed but is no file")
        if entry.kind == Kind.HARDLINK and entry.target not in linked:
            raise ValueError(f"hard link {entry.path[:80]!r} names no earlier linked path")
        if entry.flags & FLAG_CHANGED:
            changed.append(os.fsdecode(entry.path))
        if entry.kind == Kind.FILE:
            _check_runs(entry, rows)
    try:
        unpacker.unpack()
    except msgpack.OutOfData:
        return tuple(changed)
    raise ValueError("bytes follow the last entry")


def _check_runs(entry: Entry, rows: bytes) -> None:
    end = 0
    for offset, indices in entry.runs:
        if offset < end:
            raise ValueError(f"file {entry.path[:80]!r} has overlapping runs")
        end = offset
        for index in indices:
            end += CHUNK_ROW.unpack_from(rows, index * CHUNK_ROW.size)[4]
    if end > entry.size:
        raise ValueError(f"file {entry.path[:80]!r} has data beyond its size")


def read_manifest_bytes(store: ObjectStore, share_id: str, backup_id: str) -> bytes:
    """The stored manifest object; raises ObjectNotFound."""
    return store.get(tree_manifest_key(share_id, backup_id))


def read_tree_manifest(store: ObjectStore, *, share_id: str, backup_id: str) -> TreeManifest:
    """Fetch and verify a tree backup's manifest; raises ObjectNotFound or CorruptData."""
    manifest = decode_manifest(read_manifest_bytes(store, share_id, backup_id))
    if (manifest.share_id, manifest.backup_id) != (share_id, backup_id):
        raise CorruptData(
            f"manifest of {share_id}/{backup_id} names {manifest.share_id}/{manifest.backup_id}"
        )
    return manifest


def read_pack_names(store: ObjectStore, *, share_id: str, backup_id: str) -> tuple[str, ...]:
    """The names of the packs a manifest references, decoding only its header.

    Cheaper than read_tree_manifest (entries are not checked) for deciding deletions;
    raises ObjectNotFound or CorruptData.
    """
    body = _unwrap(read_manifest_bytes(store, share_id, backup_id))
    try:
        header = _check_header(_unpacker(body).unpack())
    except (ValueError, TypeError, KeyError, InvalidKey, msgpack.UnpackException) as exc:
        raise CorruptData(f"tree manifest header is malformed: {exc}") from exc
    if (header["share_id"], header["backup_id"]) != (share_id, backup_id):
        raise CorruptData(f"manifest of {share_id}/{backup_id} names another backup")
    return tuple(name for name, _ in header["packs"])


def tree_manifest_exists(store: ObjectStore, *, share_id: str, backup_id: str) -> bool:
    """True if the tree backup is committed (its manifest exists); no content check."""
    return store.exists(tree_manifest_key(share_id, backup_id))


def list_tree_manifests(store: ObjectStore) -> list[tuple[str, str]]:
    """(share_id, backup_id) of every tree manifest in the store, sorted (catalog rebuild)."""
    return [
        parse_tree_manifest_key(key)
        for key in store.list(shares_listing_prefix())
        if is_tree_manifest_key(key)
    ]
