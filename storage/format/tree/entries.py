"""Tree entries: what a tree backup records about one path, and its msgpack array form.

An entry is encoded as one msgpack array (never a map: field names would cost more than the
fields), in this fixed order (docs/format.md, "Tree backups")::

    [path, kind, mode, uid, gid, mtime_ns, ctime_ns, ino, size, flags, xattrs, extra]

``extra`` depends on the kind: the data runs of a regular file, the target of a symlink,
the first path of a hard link, the device number of a device node, nil otherwise.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

ENTRY_FIELDS = 12


class Kind(IntEnum):
    """Entry kinds as stored in the manifest (never renumber: they are on-disk values)."""

    DIR = 0
    FILE = 1
    SYMLINK = 2
    HARDLINK = 3
    FIFO = 4
    CHAR = 5
    BLOCK = 6


_MAX_KIND = max(Kind)
FLAG_CHANGED = 1  # a regular file whose size/mtime/ctime changed while it was read
FLAG_LINKED = 2  # the first path of an inode other entries hard-link to (nlink > 1)
_KNOWN_FLAGS = FLAG_CHANGED | FLAG_LINKED

Xattrs = tuple[tuple[bytes, bytes], ...]
Run = tuple[int, tuple[int, ...]]
"""Consecutive chunks of one data extent: (file offset of the first, chunk-table indices)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of the tree (relative to the root, b"" for the root itself)."""

    path: bytes
    kind: Kind
    mode: int  # permission bits incl. setuid/setgid/sticky (stat.S_IMODE)
    uid: int
    gid: int
    mtime_ns: int
    ctime_ns: int  # only compared by the next incremental; never restored
    ino: int  # only compared by the next incremental; never restored
    size: int  # apparent size of a regular file, 0 otherwise
    flags: int = 0
    xattrs: Xattrs = ()
    target: bytes = b""  # symlink target, or the first path of a hard-linked inode
    rdev: int = 0  # device number of a device node
    runs: tuple[Run, ...] = ()  # regular files: where the data extents' chunks are

    @property
    def name(self) -> bytes:
        """The last path component (b"" for the root)."""
        return self.path.rpartition(b"/")[2]

    @property
    def parent(self) -> bytes:
        """The parent directory's path (b"" for top-level entries and the root)."""
        return self.path.rpartition(b"/")[0]

    def chunk_indices(self) -> Iterator[int]:
        """Every chunk-table index the entry references, in file order."""
        for _offset, indices in self.runs:
            yield from indices

    def to_array(self) -> list[Any]:
        """The entry's msgpack array form."""
        extra: Any = None
        if self.kind == Kind.FILE:
            extra = [[offset, *indices] for offset, indices in self.runs]
        elif self.kind in (Kind.SYMLINK, Kind.HARDLINK):
            extra = self.target
        elif self.kind in (Kind.CHAR, Kind.BLOCK):
            extra = self.rdev
        return [
            self.path,
            int(self.kind),
            self.mode,
            self.uid,
            self.gid,
            self.mtime_ns,
            self.ctime_ns,
            self.ino,
            self.size,
            self.flags,
            [[name, value] for name, value in self.xattrs],
            extra,
        ]


def kind_of_mode(mode: int) -> Kind | None:
    """The entry kind of an lstat mode; None for what is not recorded (sockets)."""
    if stat.S_ISDIR(mode):
        return Kind.DIR
    if stat.S_ISREG(mode):
        return Kind.FILE
    if stat.S_ISLNK(mode):
        return Kind.SYMLINK
    if stat.S_ISFIFO(mode):
        return Kind.FIFO
    if stat.S_ISCHR(mode):
        return Kind.CHAR
    if stat.S_ISBLK(mode):
        return Kind.BLOCK
    return None


def matches_mode(kind: Kind, mode: int) -> bool:
    """True if an existing file of lstat ``mode`` has the type ``kind`` restores to."""
    found = kind_of_mode(mode)
    return found == (Kind.FILE if kind == Kind.HARDLINK else kind)


def check_path(path: bytes) -> None:
    """Raise ValueError unless ``path`` is b"" or a clean relative path (no ., .., //, NUL)."""
    if path == b"":
        return
    if b"\0" in path:
        raise ValueError(f"entry path {path[:80]!r} contains NUL")
    for part in path.split(b"/"):
        if part in (b"", b".", b".."):
            raise ValueError(f"entry path {path[:80]!r} is not a clean relative path")


def _int(value: Any, what: str, low: int = 0, high: int = (1 << 64) - 1) -> int:
    """``value`` if it is an int (not a bool) within [low, high]; ValueError otherwise."""
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"entry field {what} is not an integer in range: {value!r}")
    return value


def _bytes(value: Any, what: str) -> bytes:
    if type(value) is not bytes:
        raise ValueError(f"entry field {what} is not bytes: {type(value).__name__}")
    return value


def _xattrs(value: Any) -> Xattrs:
    if type(value) is not list:
        raise ValueError("entry xattrs are not an array")
    pairs = []
    for pair in value:
        if type(pair) is not list or len(pair) != 2:
            raise ValueError("entry xattr is not a [name, value] pair")
        pairs.append((_bytes(pair[0], "xattr name"), _bytes(pair[1], "xattr value")))
    return tuple(pairs)


_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1
_I63 = (1 << 63) - 1
_KINDS = tuple(Kind)


def _runs(value: Any, chunk_count: int) -> tuple[Run, ...]:
    if type(value) is not list:
        raise ValueError("file entry runs are not an array")
    runs = []
    top = chunk_count - 1
    for run in value:
        if type(run) is not list or len(run) < 2:
            raise ValueError("file entry run is not [offset, index, ...]")
        offset = run[0]
        if type(offset) is not int or not 0 <= offset <= _U64:
            _int(offset, "run offset")
        indices = tuple(run[1:])
        # Fast path: every index an in-range int (min/max over ints); else name the culprit.
        if not all(type(i) is int for i in indices) or min(indices) < 0 or max(indices) > top:
            for i in indices:
                _int(i, "chunk index", 0, top)
        runs.append((offset, indices))
    return tuple(runs)


def _check_ints(array: list[Any]) -> None:
    """Name the first out-of-range integer field of an entry array (ValueError)."""
    _int(array[2], "mode", 0, 0o7777)
    _int(array[3], "uid", 0, _U32)
    _int(array[4], "gid", 0, _U32)
    _int(array[5], "mtime_ns", -(1 << 63), _I63)
    _int(array[6], "ctime_ns", -(1 << 63), _I63)
    _int(array[7], "ino")
    _int(array[8], "size", 0, _I63)
    _int(array[9], "flags", 0, _KNOWN_FLAGS)


def entry_from_array(array: Any, chunk_count: int) -> Entry:
    """Decode and type-check one entry array; raises ValueError (the caller: CorruptData).

    Cross-entry rules (order, parents, hard-link targets, run extents) are the manifest's.
    """
    if type(array) is not list or len(array) != ENTRY_FIELDS:
        raise ValueError("entry is not an array of 12 fields")
    path, kind_value, mode, uid, gid, mtime, ctime, ino, size, flags, xattrs, extra = array
    if type(path) is not bytes:
        _bytes(path, "path")
    if path:
        wrapped = b"/" + path + b"/"  # an empty, "." or ".." component shows as below
        if b"\0" in path or b"//" in wrapped or b"/./" in wrapped or b"/../" in wrapped:
            check_path(path)
    if type(kind_value) is not int or not 0 <= kind_value <= _MAX_KIND:
        _int(kind_value, "kind", 0, _MAX_KIND)
    kind = _KINDS[kind_value]
    if not (
        type(mode) is int
        and type(uid) is int
        and type(gid) is int
        and type(mtime) is int
        and type(ctime) is int
        and type(ino) is int
        and type(size) is int
        and type(flags) is int
        and 0 <= mode <= 0o7777
        and 0 <= uid <= _U32
        and 0 <= gid <= _U32
        and -(1 << 63) <= mtime <= _I63
        and -(1 << 63) <= ctime <= _I63
        and 0 <= ino <= _U64
        and 0 <= size <= _I63
        and 0 <= flags <= _KNOWN_FLAGS
    ):
        _check_ints(array)
    pairs: Xattrs = _xattrs(xattrs) if xattrs else ()
    if type(xattrs) is not list:
        raise ValueError("entry xattrs are not an array")
    if kind == Kind.FILE:
        return Entry(
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            ctime,
            ino,
            size,
            flags,
            pairs,
            runs=_runs(extra, chunk_count),
        )
    target = b""
    rdev = 0
    if kind in (Kind.SYMLINK, Kind.HARDLINK):
        target = _bytes(extra, "target")
        if not target or b"\0" in target:
            raise ValueError(f"entry {path[:80]!r} has an empty or NUL-holding target")
    elif kind in (Kind.CHAR, Kind.BLOCK):
        rdev = _int(extra, "rdev")
    elif extra is not None:
        raise ValueError(f"entry {path[:80]!r} of kind {kind.name} carries extra data")
    return Entry(path, kind, mode, uid, gid, mtime, ctime, ino, size, flags, pairs, target, rdev)
