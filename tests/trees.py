"""Directory trees for share tests: one with every entry kind, and an exact walk to compare."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB
XATTR = (b"user.safehold", b"tree-test")
BLOCK = 64 * 1024


def build_every_kind(root: Path) -> None:
    """Fill ``root`` with every entry kind share backups keep (issue 7 item 4)."""
    r = os.fsencode(root)
    os.makedirs(os.path.join(r, b"docs", b"deep", b"er"), exist_ok=True)
    _write(os.path.join(r, b"docs", b"readme.txt"), b"hello tree\n" * 500, 0o640)
    _write(os.path.join(r, b"docs", b"deep", b"er", b"empty"), b"", 0o600)
    _write(os.path.join(r, b"bin.dat"), os.urandom(3 * MIB), 0o755)
    os.makedirs(os.path.join(r, b"caf\xe9"), exist_ok=True)  # not UTF-8
    _write(os.path.join(r, b"caf\xe9", b"\xff\xfename"), b"latin-1 and worse", 0o644)
    _write(os.path.join(r, b"linked-a"), b"one inode, two names\n", 0o644)
    os.link(os.path.join(r, b"linked-a"), os.path.join(r, b"docs", b"linked-b"))
    os.symlink(b"docs/readme.txt", os.path.join(r, b"to-readme"))
    os.symlink(b"nowhere/at/all", os.path.join(r, b"dangling"))
    os.symlink(b"loop-b", os.path.join(r, b"loop-a"))
    os.symlink(b"loop-a", os.path.join(r, b"loop-b"))
    os.mkfifo(os.path.join(r, b"pipe"), 0o620)
    sparse = os.path.join(r, b"sparse.img")
    with open(sparse, "wb") as f:
        f.truncate(GIB)
        f.seek(512 * MIB)
        f.write(b"data in the middle of a hole" * 100)
    os.makedirs(os.path.join(r, b"sticky"), exist_ok=True)
    os.chmod(os.path.join(r, b"sticky"), 0o1777)
    with contextlib.suppress(OSError):  # where the file system has user xattrs
        os.setxattr(os.path.join(r, b"docs", b"readme.txt"), *XATTR)
    os.utime(os.path.join(r, b"bin.dat"), ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))


def _write(path: bytes, data: bytes, mode: int) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def walk(root: Path) -> dict[bytes, dict[str, Any]]:
    """Every entry under ``root`` (not the root) by relative bytes path: type, mode, owner,
    mtime (ns; not for symlinks), link target, xattrs, hard-link group, content digest."""
    r = os.fsencode(root)
    seen: dict[int, bytes] = {}
    found: dict[bytes, dict[str, Any]] = {}
    for dirpath, dirnames, filenames in os.walk(r):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, r)] = _describe(path, seen, r)
    return found


def _describe(path: bytes, seen: dict[int, bytes], root: bytes) -> dict[str, Any]:
    st = os.lstat(path)
    entry: dict[str, Any] = {
        "type": stat.S_IFMT(st.st_mode),
        "mode": stat.S_IMODE(st.st_mode),
        "owner": (st.st_uid, st.st_gid),
    }
    if stat.S_ISLNK(st.st_mode):
        entry["target"] = os.readlink(path)
        return entry
    entry["mtime_ns"] = st.st_mtime_ns
    with contextlib.suppress(OSError):
        entry["xattrs"] = sorted(
            (name, os.getxattr(path, name, follow_symlinks=False))
            for name in os.listxattr(path, follow_symlinks=False)
        )
    if stat.S_ISREG(st.st_mode):
        entry["size"] = st.st_size
        entry["sha256"] = _digest(path)
        if st.st_nlink > 1:
            # The first path of the inode names the group, whatever the inode number.
            entry["link_group"] = seen.setdefault(st.st_ino, os.path.relpath(path, root))
    return entry


def _digest(path: bytes) -> str:
    """The content's digest: every non-zero 64 KiB block with its offset. Holes and zero
    blocks read alike, so a sparse file's holes cost nothing to compare."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        for start, end in _data_extents(fd):
            offset = start
            while offset < end:
                block = os.pread(fd, min(BLOCK, end - offset), offset)
                if block.count(0) != len(block):
                    h.update(offset.to_bytes(8, "little") + block)
                offset += len(block) or end
    finally:
        os.close(fd)
    return h.hexdigest()


def _data_extents(fd: int) -> list[tuple[int, int]]:
    size = os.fstat(fd).st_size
    extents, offset = [], 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, end))
        offset = end
    return extents


def allocated(path: Path) -> int:
    """Bytes the file system allocated for ``path``."""
    return os.stat(path).st_blocks * 512
