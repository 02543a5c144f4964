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


def _runs(value: Any, chunk_count: int) -> tuple[Run, ...]:
    if type(value) is not list:
        raise ValueError("file entry runs are not an array")
    runs = []
    for run in value:
        if type(run) is not list or len(run) < 2:
            raise ValueError("file entry run is not [offset, index, ...]")
        offset = _int(run[0], "run offset")
        indices = tuple(_int(i, "chunk index", 0, chunk_count - 1) for i in run[1:])
        runs.append((offset, indices))
    return tuple(runs)


def entry_from_array(array: Any, chunk_count: int) -> Entry:
    """Decode and type-check one entry array; raises ValueError (the caller: CorruptData).

    Cross-entry rules (order, parents, hard-link targets, run extents) are the manifest's.
    """
    if type(array) is not list or len(array) != ENTRY_FIELDS:
        raise ValueError("entry is not an array of 12 fields")
    path = _bytes(array[0], "path")
    check_path(path)
    kind = Kind(_int(array[1], "kind", 0, _MAX_KIND))
    flags = _int(array[9], "flags", 0, _KNOWN_FLAGS)
    extra = array[11]
    fields: dict[str, Any] = {}
    if kind == Kind.FILE:
        fields["runs"] = _runs(extra, chunk_count)
    elif kind in (Kind.SYMLINK, Kind.HARDLINK):
        fields["target"] = _bytes(extra, "target")
        if not fields["target"] or b"\0" in fields["target"]:
            raise ValueError(f"entry {path[:80]!r} has an empty or NUL-holding target")
    elif kind in (Kind.CHAR, Kind.BLOCK):
        fields["rdev"] = _int(extra, "rdev")
    elif extra is not None:
        raise ValueError(f"entry {path[:80]!r} of kind {kind.name} carries extra data")
    return Entry(
        path=path,
        kind=kind,
        mode=_int(array[2], "mode", 0, 0o7777),
        uid=_int(array[3], "uid", 0, (1 << 32) - 1),
        gid=_int(array[4], "gid", 0, (1 << 32) - 1),
        mtime_ns=_int(array[5], "mtime_ns", -(1 << 63), (1 << 63) - 1),
        ctime_ns=_int(array[6], "ctime_ns", -(1 << 63), (1 << 63) - 1),
        ino=_int(array[7], "ino"),
        size=_int(array[8], "size", 0, (1 << 63) - 1),
        flags=flags,
        xattrs=_xattrs(array[10]),
        **fields,
    )
