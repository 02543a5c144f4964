"""Walking a directory tree in path-byte order, relative to directory fds, never following links.

Order: every path (bytes, relative to the root, b"" for the root) is yielded in strictly
increasing byte order, so parents come before children. Within a directory a subdirectory
``d`` sorts as ``d`` (its own entry) and as ``d/`` (the start of its subtree): a sibling
``d-x`` (``-`` < ``/``) is yielded between ``d`` and ``d/...``, exactly as a plain sort of
the full paths would order them, without ever holding more than one listing per level.

Subdirectories are opened with O_NOFOLLOW relative to their parent's fd, so a symlink swapped
in for a directory is never traversed; a directory that vanished (or was removed by the
consumer, as restore does with extraneous trees) is simply not descended into.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# errnos of a directory that went away or is no longer a directory when we get to it.
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})
_NO_XATTRS = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT})
# /proc/self/fd/<dirfd>/<name> names an entry relative to a directory fd for the calls that
# have no dir_fd parameter (xattrs): race-free and free of PATH_MAX.
_PROC_FD = os.path.isdir("/proc/self/fd")


@dataclass(frozen=True, slots=True)
class Found:
    """One walked path; ``dir_fd`` is its parent's fd, valid until the walk moves on."""

    path: bytes
    name: bytes
    dir_fd: int
    st: os.stat_result


def walk_sorted(root_fd: int, check: Callable[[], None] | None = None) -> Iterator[Found]:
    """Yield the root (path b"", dir_fd = root_fd) then every path below it in byte order.

    ``check`` runs once per directory listed (it raises to stop the walk). Listing errors
    other than a vanished directory propagate (OSError).
    """
    yield Found(b"", b"", root_fd, os.fstat(root_fd))
    stack: list[tuple[int, bytes, Iterator[tuple[bytes, bool, os.stat_result]]]] = [
        (root_fd, b"", iter(_listing(root_fd)))
    ]
    try:
        while stack:
            fd, prefix, items = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                if fd != root_fd:
                    os.close(fd)
                continue
            name, subtree, st = item
            if not subtree:
                yield Found(prefix + name, name, fd, st)
                continue
            if check is not None:
                check()
            child = _open_dir(fd, name)
            if child is not None:
                try:
                    listing = _listing(child)
                except BaseException:
                    os.close(child)
                    raise
                stack.append((child, prefix + name + b"/", iter(listing)))
    finally:
        for fd, _prefix, _items in stack:
            if fd != root_fd:
                os.close(fd)


def _open_dir(parent_fd: int, name: bytes) -> int | None:
    """Open a subdirectory without following a symlink; None if it is gone or not a dir."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise


def _listing(fd: int) -> list[tuple[bytes, bool, os.stat_result]]:
    """The directory's items sorted as the walk yields them: (name, is-subtree-marker, lstat)."""
    items: list[tuple[bytes, bool, os.stat_result]] = []
    try:
        scan = os.scandir(fd)
    except OSError as exc:
        if exc.errno in _GONE:
            return items
        raise
    with scan:
        for dirent in scan:
            try:
                st = dirent.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since it was listed
            # scandir(fd) yields str names (surrogateescape): fsencode restores the bytes.
            name = os.fsencode(dirent.name)
            items.append((name, False, st))
            if stat.S_ISDIR(st.st_mode):
                items.append((name + b"/", True, st))
    items.sort(key=lambda item: item[0])
    return [(name[:-1] if subtree else name, subtree, st) for name, subtree, st in items]


def entry_path(dir_fd: int, name: bytes) -> bytes | None:
    """A path naming ``name`` in ``dir_fd`` for calls that lack dir_fd (xattrs of symlinks
    and special files); None without /proc, where those xattrs are then not handled."""
    if _PROC_FD:
        return b"/proc/self/fd/%d/%s" % (dir_fd, name)
    return None  # pragma: no cover


def read_xattrs(target: int | bytes) -> tuple[tuple[bytes, bytes], ...]:
    """Extended attributes (sorted by name) of an fd or of a path (symlinks not followed).

    A file system without xattr support yields (); an attribute removed meanwhile is skipped.
    """
    follow = isinstance(target, int)
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in _NO_XATTRS:
            return ()
        raise
    pairs = []
    for name in sorted(os.fsencode(n) for n in names):
        try:
            pairs.append((name, os.getxattr(target, name, follow_symlinks=follow)))
        except OSError as exc:
            if exc.errno not in _NO_XATTRS and exc.errno != errno.ENODATA:
                raise
    return tuple(pairs)


def data_extents(fd: int, size: int, blocks: int) -> list[tuple[int, int]]:
    """The (start, end) byte ranges of ``fd`` holding data, below ``size``.

    Holes are found with SEEK_DATA/SEEK_HOLE; a file whose allocated blocks cover its size
    is taken whole without asking, and a file system without SEEK_DATA yields the whole file.
    """
    if size <= 0:
        return []
    if blocks * 512 >= size:
        return [(0, size)]
    extents: list[tuple[int, int]] = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data at or after pos: the rest is a hole
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            extents.append((start, end))
            pos = end
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        log.debug("SEEK_DATA unsupported (%s): reading the whole file", exc)
        return [(0, size)]
    return extents


def estimate_bytes(root_fd: int, check: Callable[[], None] | None = None) -> int:
    """Apparent bytes of the regular files under the root (each hard-linked inode once).

    A cheap stat-only pre-pass: it gives progress reports a total before any data moves.
    """
    total = 0
    seen: set[tuple[int, int]] = set()
    for found in walk_sorted(root_fd, check):
        st = found.st
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
        total += st.st_size
    return total
