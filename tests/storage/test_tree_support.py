"""Helpers for the tree-format tests: stores, a tree with every entry kind, an exact walk.

No tests live here; the test_tree_* modules import these helpers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import stat
import uuid
from pathlib import Path
from typing import Any

from storage.format.tree import TreeBackupResult, TreeManifest, write_tree_backup
from storage.objects import ObjectStore, open_store

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
SHARE = "share-1"
XATTR = (b"user.safehold", b"tree-test \x00\xff")
ROOT_XATTR = (b"user.root", b"on the root")
# Small chunks and packs: many of each in little time.
AVG = 16 * KIB
PACK = 256 * KIB
SPARSE_DATA_AT = 512 * MIB
MTIME_NS = 1_600_000_000_123_456_789


def memory_store() -> ObjectStore:
    """A fresh, isolated memory:// store."""
    return open_store(f"memory://tree-{uuid.uuid4().hex}")


def file_store(tmp_path: Path) -> ObjectStore:
    """A file:// store under the test's tmp_path."""
    return open_store("file://" + str(tmp_path / "store"))


def back_up(
    store: ObjectStore,
    source: Path,
    backup_id: str,
    parent: TreeManifest | None = None,
    **kw: Any,
) -> TreeBackupResult:
    """write_tree_backup with the small test chunk and pack sizes."""
    kw.setdefault("avg_chunk", AVG)
    kw.setdefault("pack_size", PACK)
    return write_tree_backup(
        store,
        share_id=kw.pop("share_id", SHARE),
        backup_id=backup_id,
        source_dir=source,
        record={"id": backup_id, "share_id": SHARE, "nested": {"ok": [1, 2]}},
        parent=parent,
        **kw,
    )


def xattrs_supported(directory: Path) -> bool:
    """True if the file system under ``directory`` takes user.* xattrs."""
    probe = directory / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def _write(path: bytes, data: bytes, mode: int, mtime_ns: int | None = None) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def build_every_kind(root: Path, seed: int = 7) -> None:
    """Fill ``root`` with every entry kind a tree backup keeps (see the format tests)."""
    rng = random.Random(seed)
    r = os.fsencode(root)
    j = os.path.join
    os.makedirs(j(r, b"docs", b"deep", b"er"), exist_ok=True)
    _write(j(r, b"docs", b"readme.txt"), b"hello tree\n" * 500, 0o640, MTIME_NS + 1)
    _write(j(r, b"docs", b"deep", b"er", b"empty"), b"", 0o600)
    _write(j(r, b"bin.dat"), rng.randbytes(3 * MIB), 0o755, MTIME_NS)
    os.makedirs(j(r, b"caf\xe9"), exist_ok=True)  # not UTF-8
    _write(j(r, b"caf\xe9", b"\xff\xfe"), b"latin-1 and worse", 0o644)
    _write(j(r, b"a-b"), b"sorts between a and a/", 0o644)  # '-' < '/' in path order
    os.makedirs(j(r, b"a", b"x"), exist_ok=True)
    _write(j(r, b"a", b"x", b"inner"), b"inner\n", 0o644)
    _write(j(r, b"linked-a"), b"one inode, two names\n", 0o644)
    os.link(j(r, b"linked-a"), j(r, b"docs", b"linked-b"))
    os.symlink(b"docs/readme.txt", j(r, b"to-readme"))
    os.symlink(b"nowhere/at/all", j(r, b"dangling"))
    os.symlink(b"loop-b", j(r, b"loop-a"))
    os.symlink(b"loop-a", j(r, b"loop-b"))
    os.symlink(b"/etc", j(r, b"docs", b"outside"))  # never followed
    os.utime(j(r, b"dangling"), ns=(MTIME_NS, MTIME_NS + 5), follow_symlinks=False)
    os.mkfifo(j(r, b"pipe"), 0o620)
    with contextlib.suppress(PermissionError):  # where the test may create devices
        os.mknod(j(r, b"null-dev"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    sparse = j(r, b"sparse.img")
    with open(sparse, "wb") as f:
        f.truncate(GIB)  # never written: a hole but for a few KiB
        f.seek(SPARSE_DATA_AT)
        f.write(b"data in the middle of a hole" * 100)
    os.makedirs(j(r, b"sticky"), exist_ok=True)
    os.chmod(j(r, b"sticky"), 0o1777)
    os.chmod(j(r, b"docs", b"deep"), 0o750)
    if os.geteuid() == 0:
        os.lchown(j(r, b"docs", b"readme.txt"), 1234, 5678)
        os.lchown(j(r, b"to-readme"), 4321, 8765)
    with contextlib.suppress(OSError):  # where the file system has user xattrs
        os.setxattr(j(r, b"docs", b"readme.txt"), *XATTR)
        os.setxattr(j(r, b"docs"), *XATTR)
        os.setxattr(r, *ROOT_XATTR)
    os.utime(j(r, b"docs", b"deep", b"er"), ns=(MTIME_NS, MTIME_NS + 7))
    os.chmod(r, 0o751)


def snapshot(root: Path) -> dict[bytes, dict[str, Any]]:
    """Every entry under ``root`` (the root as b"."), by relative path bytes: type, mode,
    owner, mtime_ns, link target, xattrs, size, content sha256, hard-link group."""
    r = os.fsencode(root)
    groups: dict[tuple[int, int], bytes] = {}
    found: dict[bytes, dict[str, Any]] = {b".": _describe(r, groups, b".")}
    for dirpath, dirnames, filenames in os.walk(r):
        dirnames.sort()  # a deterministic visiting order: hard-link groups are named alike
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, r)
            found[rel] = _describe(path, groups, rel)
    return found


def _describe(path: bytes, groups: dict[tuple[int, int], bytes], rel: bytes) -> dict[str, Any]:
    st = os.lstat(path)
    entry: dict[str, Any] = {
        "type": stat.S_IFMT(st.st_mode),
        "mode": stat.S_IMODE(st.st_mode),
        "owner": (st.st_uid, st.st_gid),
        "mtime_ns": st.st_mtime_ns,
    }
    with contextlib.suppress(OSError):
        entry["xattrs"] = sorted(
            (name, os.getxattr(path, name, follow_symlinks=False))
            for name in os.listxattr(path, follow_symlinks=False)
        )
    if stat.S_ISLNK(st.st_mode):
        entry["target"] = os.readlink(path)
        del entry["mode"]  # Linux symlinks have no mode of their own
    elif stat.S_ISREG(st.st_mode):
        entry["size"] = st.st_size
        entry["sha256"] = _digest(path)
        entry["link_group"] = groups.setdefault((st.st_dev, st.st_ino), rel)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        entry["rdev"] = st.st_rdev
    return entry


def _digest(path: bytes) -> str:
    """A fingerprint of a file's logical content that ignores how holes are laid out:
    sha256 over (offset, bytes) of every non-zero 64 KiB block, found via SEEK_DATA, so
    a 1 GiB sparse file costs only its data."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        blocks: set[int] = set()
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break  # no data after pos
            end = os.lseek(fd, start, os.SEEK_HOLE)
            blocks.update(range(start // _BLOCK * _BLOCK, end, _BLOCK))
            pos = end
        for offset in sorted(blocks):
            block = os.pread(fd, _BLOCK, offset)
            if block.count(0) != len(block):
                digest.update(offset.to_bytes(8, "little") + block)
    return digest.hexdigest()


_BLOCK = 64 * KIB


def assert_same_tree(source: Path, restored: Path) -> None:
    """Assert that two trees are equal entry by entry (with a readable first difference)."""
    want, got = snapshot(source), snapshot(restored)
    assert sorted(got) == sorted(want), set(got) ^ set(want)
    for path, entry in want.items():
        assert got[path] == entry, path
