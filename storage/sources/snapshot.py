"""Point-in-time copies of block volumes: a reflink where the file system can, else a copy.

A reflink (``ioctl(FICLONE)``: btrfs, XFS, bcachefs, ...) shares the source's extents
and is taken in one atomic call, whatever the size. Elsewhere the copy visits only the
source's data extents (``SEEK_DATA``/``SEEK_HOLE``), so holes stay holes; the kernel
moves the bytes (``copy_file_range``) where it can, and plain reads and writes skip
all-zero chunks otherwise. Either way the copy is written beside its final name and
renamed into place, so a copy is complete or absent, and repeating it is safe.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path
from typing import Final, Literal

from storage.durable import fsync_directory
from storage.objects import translate_errors
from storage.sources.block import is_zero, iter_data_extents

log = logging.getLogger(__name__)

# linux/fs.h: _IOW(0x94, 9, int)
FICLONE: Final = 0x40049409
CHUNK: Final = 8 * 1024 * 1024
PARTIAL_SUFFIX: Final = ".partial"
# errnos that mean "no reflink between these two files here": fall back to copying.
_NO_CLONE: Final = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EBADF}
)
# errnos that mean "copy_file_range cannot do this pair": fall back to read/write.
_NO_COPY_RANGE: Final = frozenset(
    {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}
)

Method = Literal["reflink", "copy"]


def copy_point_in_time(source: Path, target: Path) -> Method:
    """Make ``target`` a point-in-time copy of ``source``; how it was made.

    Idempotent: a repeat replaces the target with a fresh copy. The target's parent is
    created. Raises ObjectNotFound when the source is missing, and leaves no target then.
    """
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    with translate_errors("snapshot", str(source)):
        target.parent.mkdir(parents=True, exist_ok=True)
        src = os.open(source, os.O_RDONLY)
        try:
            dst = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                method = _fill(src, dst, source)
                os.fsync(dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        os.replace(partial, target)
        fsync_directory(target.parent)
    log.info("snapshot %s of %s made by %s", target, source, method)
    return method


def remove_copy(path: Path) -> bool:
    """Delete a copy and any half-made one beside it; False when neither existed."""
    removed = False
    with translate_errors("delete_snapshot", str(path)):
        for candidate in (path, path.with_name(path.name + PARTIAL_SUFFIX)):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed = True
    if removed:
        log.info("snapshot file %s removed", path)
    return removed


def _fill(src: int, dst: int, source: Path) -> Method:
    if _clone(src, dst):
        return "reflink"
    size = os.lseek(src, 0, os.SEEK_END)
    os.ftruncate(dst, size)  # everything not written below stays a hole
    use_copy_range = hasattr(os, "copy_file_range")
    for offset, extent in iter_data_extents(source):
        if offset >= size:
            break  # the source grew since it was measured: the copy keeps its size
        length = min(extent, size - offset)
        if use_copy_range:
            try:
                _copy_range(src, dst, offset, length)
                continue
            except OSError as exc:
                if exc.errno not in _NO_COPY_RANGE:
                    raise
                use_copy_range = False
        _read_write(src, dst, offset, length)
    return "copy"


def _clone(src: int, dst: int) -> bool:
    """Reflink the whole source into dst; False where the file system cannot."""
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError as exc:
        if exc.errno in _NO_CLONE:
            return False
        raise
    return True


def _copy_range(src: int, dst: int, offset: int, length: int) -> None:
    end = offset + length
    while offset < end:
        copied = os.copy_file_range(src, dst, end - offset, offset, offset)
        if copied == 0:
            raise OSError(errno.EIO, f"source ended early at {offset}")
        offset += copied


def _read_write(src: int, dst: int, offset: int, length: int) -> None:
    end = offset + length
    while offset < end:
        data = os.pread(src, min(CHUNK, end - offset), offset)
        if not data:
            raise OSError(errno.EIO, f"source ended early at {offset}")
        if not is_zero(data):  # zeros stay holes: the target was truncated sparse
            view = memoryview(data)
            position = offset
            while view:
                written = os.pwrite(dst, view, position)
                view, position = view[written:], position + written
        offset += len(data)
