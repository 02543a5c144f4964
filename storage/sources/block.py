"""Block volumes: sparse image files or block devices, read and written block by block.

Holes are never read: ``SEEK_DATA``/``SEEK_HOLE`` find the allocated extents, and blocks
entirely outside them are reported as holes. Blocks that are read and turn out all-zero are
holes too. OS errors are translated into ``storage.errors`` by the object-store edge's one
translator (a missing path is ObjectNotFound, EACCES is permanent, EIO transient).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from storage import libc
from storage.durable import fsync_directory
from storage.objects import translate_errors

log = logging.getLogger(__name__)

# linux/falloc.h
_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_ZERO_WRITE_CHUNK = 1 << 20
# linux/fs.h: start writeback of dirty pages, without waiting for it.
_SYNC_FILE_RANGE_WRITE = 2
# A restore starts the writeback of what it wrote every this many bytes, so the disk
# writes while the restore decodes, and the final fsync has little left to wait for.
_WRITEBACK_EVERY = 32 << 20


def create_volume_file(path: Path, size_bytes: int) -> None:
    """Create a sparse file of ``size_bytes`` (parents too); idempotent.

    An existing file of that size is left alone; an existing empty file (a crash between
    create and truncate) is grown. Raises PermanentStorageError if it exists with another size.
    """
    if size_bytes < 0:
        raise ValueError(f"negative volume size {size_bytes} for {path}")
    with translate_errors("create_volume_file", str(path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            current = path.stat().st_size
            if current == size_bytes:
                return
            if current != 0:
                raise FileExistsError(
                    errno.EEXIST, f"volume file exists with size {current}", str(path)
                ) from None
            fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size_bytes)
        finally:
            os.close(fd)
    log.info("created volume file %s (%d bytes)", path, size_bytes)


def delete_volume_file(path: Path) -> None:
    """Remove the volume's image file, and the staging file an interrupted restore may
    have left beside it; missing files are not an error (idempotent)."""
    with translate_errors("delete_volume_file", str(path)):
        staging_path(path).unlink(missing_ok=True)
        try:
            path.unlink()
        except FileNotFoundError:
            return
    log.info("deleted volume file %s", path)


def staging_path(path: Path) -> Path:
    """Where a restore into the regular file ``path`` writes before replacing it."""
    return path.with_name(f".{path.name}.restoring")


def device_size(path: Path) -> int:
    """Size in bytes of a regular file or block device; raises ObjectNotFound if missing."""
    with translate_errors("device_size", str(path)):
        fd = os.open(path, os.O_RDONLY)
        try:
            # st_size is 0 for block devices; seeking to the end works for both.
            return os.lseek(fd, 0, os.SEEK_END)
        finally:
            os.close(fd)


def iter_data_extents(path: Path) -> Iterator[tuple[int, int]]:
    """Yield ``(offset, length)`` of the regions that may hold data, in order; holes skipped."""
    with translate_errors("extents", str(path)), open(path, "rb", buffering=0) as f:
        size = os.lseek(f.fileno(), 0, os.SEEK_END)
        yield from _extents(f.fileno(), size)


def _extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """Data extents of an open file; the whole file when the OS cannot tell holes apart."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        if size:
            yield 0, size
        return
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return  # only a hole from pos to the end
            if pos == 0 and exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield 0, size  # file system without hole reporting: all data
                return
            raise
        if start >= size:
            return
        end = min(os.lseek(fd, start, seek_hole), size)
        yield start, end - start
        pos = end


@functools.lru_cache(maxsize=8)
def _zeros(length: int) -> bytes:
    """A shared all-zero buffer: comparing against it is a memcmp (GB/s)."""
    return bytes(length)


def is_zero(data: bytes) -> bool:
    """True if every byte of ``data`` is zero."""
    return data == _zeros(len(data))


def iter_blocks(
    path: Path, block_size: int, size: int | None = None
) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(offset, data)`` for every block in order; ``data`` is None for a hole.

    Blocks entirely inside a hole are not read; blocks read as all zero are holes too. The
    last block may be short. ``size`` (the caller's one measurement of the source) bounds
    what is read, so a source that grows meanwhile cannot disagree with the caller's
    geometry; None measures here. Raises a StorageError on read failures or if the file
    shrinks below ``size``.
    """
    if block_size <= 0:
        raise ValueError(f"invalid block size {block_size}")
    with translate_errors("read", str(path)), open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        if size is None:
            size = os.lseek(fd, 0, os.SEEK_END)
        with contextlib.suppress(OSError, AttributeError):  # a hint; platforms may lack it
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        extents = _extents(fd, size)
        extent_end = -1
        extent_start = size
        for offset in range(0, size, block_size):
            length = min(block_size, size - offset)
            while extent_end <= offset:
                extent_start, extent_len = next(extents, (size, 0))
                extent_end = extent_start + extent_len if extent_len else size + 1
            if extent_start >= offset + length:
                yield offset, None  # wholly inside a hole: not read
                continue
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise OSError(errno.EIO, f"short read at {offset}: source shrank?", str(path))
            yield offset, None if is_zero(data) else data


_fallocate = libc.function(
    "fallocate", [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
)
_sync_file_range = libc.function(
    "sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
)


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the file's dirty pages out (no wait; best effort)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Deallocate (and zero) a range, keeping the size; False if unsupported here."""
    if _fallocate is None or length <= 0:
        return length <= 0
    mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    return bool(_fallocate(fd, mode, offset, length) == 0)


def zero_range(fd: int, offset: int, length: int) -> None:
    """Make ``[offset, offset+length)`` read as zeros: punch a hole, else write zeros."""
    if punch_hole(fd, offset, length):
        return
    end = offset + length
    while offset < end:
        offset += os.pwrite(fd, _zeros(min(_ZERO_WRITE_CHUNK, end - offset)), offset)


class BlockTarget:
    """An existing file or block device opened for restore: blocks in, holes left as holes.

    A regular file is restored into a sparse staging file beside it (``.<name>.restoring``,
    same size and permissions), renamed over the target only when every block was written
    and ``close`` commits: a failed restore (a missing or corrupt segment) leaves the
    target as it was, and every region the restore does not write is a hole. This needs
    room for the restored data beside the old file. A block device is written in place:
    holes, and the device's tail past the restored size (``zero_tail``), are zeroed with
    fallocate(PUNCH_HOLE), falling back to writing zeros. ``close`` fsyncs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._unflushed = 0  # bytes written since the last writeback kick
        with translate_errors("open_target", str(path)):
            info = os.stat(path)
            self.regular = stat.S_ISREG(info.st_mode)
            self._staging = staging_path(path) if self.regular else None
            if self._staging is None:
                self._fd = os.open(path, os.O_WRONLY)
                self.size = os.lseek(self._fd, 0, os.SEEK_END)
            else:
                # Created afresh (a leftover of an interrupted attempt is discarded).
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                self._fd = os.open(self._staging, flags, stat.S_IMODE(info.st_mode))
                self.size = info.st_size
                try:
                    os.ftruncate(self._fd, self.size)
                except BaseException:
                    self._discard()
                    raise

    def write(self, offset: int, data: bytes | bytearray) -> None:
        """Write ``data`` at ``offset`` (positional, thread-safe); raises StorageError."""
        view = memoryview(data)
        with translate_errors("write", str(self.path)):
            while view:
                written = os.pwrite(self._fd, view, offset)
                view = view[written:]
                offset += written
            self._unflushed += len(data)
            if self._unflushed >= _WRITEBACK_EVERY:
                self._unflushed = 0  # a racing thread may also kick: harmless
                start_writeback(self._fd)

    def hole(self, offset: int, length: int) -> None:
        """Make a range read as zeros; a no-op on regular files (already holes)."""
        if self.regular or length <= 0:
            return
        with translate_errors("zero", str(self.path)):
            zero_range(self._fd, offset, length)

    def zero_tail(self, restored: int) -> None:
        """Make everything past ``restored`` bytes read as zeros (a larger target's stale
        tail); a no-op on regular files, whose staging file holds nothing there."""
        self.hole(restored, self.size - restored)

    def close(self, *, commit: bool = True) -> None:
        """fsync and close; a regular target's staging file replaces the target when
        ``commit``, else it is removed and the target is untouched. Idempotent."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        with translate_errors("close", str(self.path)):
            try:
                if commit:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self._staging is None:
                return
            if not commit:
                self._staging.unlink(missing_ok=True)
                return
            os.replace(self._staging, self.path)
            fsync_directory(self.path.parent, best_effort=True)

    def _discard(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self._staging is not None:
            self._staging.unlink(missing_ok=True)

    def __enter__(self) -> BlockTarget:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(commit=exc_type is None)
