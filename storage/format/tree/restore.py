"""Restoring a tree backup: make a directory's contents equal to the backup.

Phases, each a pass over the manifest's entries (path-byte order):

1. remove what the backup does not have, and what has the wrong dir/non-dir type (a merge
   of the target's sorted walk with the entries; symlinks are removed, never followed);
2. create directories (mode 0700 for now) and symlinks, FIFOs and device nodes;
3. write regular files in batches: the chunks of a batch are grouped by pack, each byte
   range fetched once (whole pack when most of it is needed) while the previous batch is
   written; every chunk's sha256 is verified before a byte of it is written; a file is
   written under a temporary name, gets its metadata, then replaces the old one;
4. hard links (os.link to the first path);
5. directory metadata, deepest first, so that writing into them no longer changes mtimes.

Every name is created relative to a directory fd opened with O_NOFOLLOW from the target
root, so a symlink (restored, or planted) is never traversed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from storage.errors import CorruptData
from storage.format.progress import Progress, ProgressFn
from storage.format.tree.chunking import ChunkRow, decode_chunk
from storage.format.tree.entries import Entry, Kind, Xattrs
from storage.format.tree.manifest import TreeManifest, read_tree_manifest
from storage.format.tree.packs import BatchFetcher, PackBytes
from storage.format.tree.walk import DIR_FLAGS, entry_path, read_xattrs, walk_sorted
from storage.objects import ObjectStore, translate_errors

log = logging.getLogger(__name__)

WORKERS = max(2, min(4, os.cpu_count() or 1))
FETCHERS = 4
# A batch fetches at most this many stored bytes (plus one chunk) and finishes at most
# this many files; two batches are in memory at a time (one fetched ahead).
BATCH_BYTES = 32 << 20
BATCH_FILES = 128
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_XATTR_REFUSED = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM})
_DEVICE_TYPES = {Kind.CHAR: stat.S_IFCHR, Kind.BLOCK: stat.S_IFBLK}


def restore_tree_backup(
    store: ObjectStore,
    *,
    share_id: str,
    backup_id: str,
    target_dir: Path,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Make ``target_dir`` (created if missing) equal to the backup; returns bytes written.

    Reads only this backup's manifest (no chain replay). Entries the backup lacks are
    removed, every regular file is rewritten, metadata (owner, mode, xattrs, mtime) is
    applied. Raises ObjectNotFound (manifest or pack missing), CorruptData (a chunk fails
    its sha256: the error names the file, whose old version stays in place), Stopped.
    """
    manifest = read_tree_manifest(store, share_id=share_id, backup_id=backup_id)
    tracker = Progress(progress, manifest.stats.bytes_total, stop)
    log.info(
        "tree restore %s: %d entries, %d bytes into %s",
        backup_id,
        manifest.entry_count,
        manifest.stats.bytes_total,
        target_dir,
    )
    with translate_errors("tree restore", str(target_dir)):
        os.makedirs(target_dir, mode=0o700, exist_ok=True)
        root_fd = os.open(target_dir, _ROOT_FLAGS)
        try:
            written = _Restore(store, manifest, root_fd, tracker).run()
        finally:
            os.close(root_fd)
    tracker.finish()
    log.info("tree restore %s: done, %d bytes written", backup_id, written)
    return written


class _Dirs:
    """Directory fds along one path from the root, reopened (O_NOFOLLOW) as paths change."""

    def __init__(self, root_fd: int) -> None:
        self._root = root_fd
        self._chain: list[tuple[bytes, int]] = []

    def fd(self, path: bytes) -> int:
        """An fd of directory ``path`` (relative to the root); OSError if it is no real dir."""
        while self._chain and not _within(path, self._chain[-1][0]):
            os.close(self._chain.pop()[1])
        base, fd = self._chain[-1] if self._chain else (b"", self._root)
        if base == path:
            return fd
        rest = path[len(base) + 1 :] if base else path
        for name in rest.split(b"/"):
            fd = os.open(name, DIR_FLAGS, dir_fd=fd)
            base = base + b"/" + name if base else name
            self._chain.append((base, fd))
        return fd

    def close(self) -> None:
        """Close every fd of the chain."""
        while self._chain:
            os.close(self._chain.pop()[1])


def _within(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory + b"/")


def _tmp_name() -> bytes:
    """A hidden, unique name for an entry being created (removed by the next restore)."""
    return b".safehold-restore-" + secrets.token_hex(8).encode()


@dataclass(eq=False)
class _Job:
    """One regular file being written under a temporary name."""

    entry: Entry
    tmp: bytes
    fd: int = -1
    data_bytes: int = 0


@dataclass
class _Batch:
    """Files started, chunk targets (chunk index -> (job, file offset)), files finished."""

    starts: list[_Job] = field(default_factory=list)
    targets: dict[int, list[tuple[_Job, int]]] = field(default_factory=dict)
    ends: list[_Job] = field(default_factory=list)
    stored: int = 0


class _Restore:
    """One restore run (see the module docstring for its phases)."""

    def __init__(
        self, store: ObjectStore, manifest: TreeManifest, root_fd: int, tracker: Progress
    ) -> None:
        self._store = store
        self._manifest = manifest
        self._root = root_fd
        self._tracker = tracker
        self._id = manifest.backup_id
        self._root_user = os.geteuid() == 0
        self._dirs = _Dirs(root_fd)
        self._open: dict[bytes, _Job] = {}  # tmp name -> job, for files still open
        self._warned: set[str] = set()
        self._fetcher = BatchFetcher(store, manifest.packs, manifest.pack_sizes)

    def run(self) -> int:
        """All phases; returns the bytes of file data written."""
        try:
            self._remove_extraneous()
            directories = self._create_entries()
            written = self._write_files()
            self._link_hardlinks()
            self._apply_directory_metadata(directories)
            return written
        finally:
            self._discard_open_files()
            self._dirs.close()

    # -- phase 1 ------------------------------------------------------------------------

    def _remove_extraneous(self) -> None:
        """Remove target paths the backup lacks or that change between dir and non-dir."""
        wanted = self._manifest.iter_entries()
        current: Entry | None = next(wanted, None)
        for found in walk_sorted(self._root, self._tracker.check):
            if found.path == b"":
                continue
            while current is not None and current.path < found.path:
                current = next(wanted, None)
            is_dir = stat.S_ISDIR(found.st.st_mode)
            if (
                current is not None
                and current.path == found.path
                and (current.kind == Kind.DIR) == is_dir
            ):
                if is_dir and not self._root_user and found.st.st_mode & 0o700 != 0o700:
                    # We must write into it; its own mode is applied in the last phase.
                    os.chmod(found.name, 0o700, dir_fd=found.dir_fd)
                continue
            self._tracker.check()
            if is_dir:
                shutil.rmtree(found.name, dir_fd=found.dir_fd)
            else:
                os.unlink(found.name, dir_fd=found.dir_fd)

    # -- phase 2 ------------------------------------------------------------------------

    def _create_entries(self) -> list[Entry]:
        """Create directories and special entries; returns every directory entry."""
        directories: list[Entry] = []
        for entry in self._manifest.iter_entries():
            self._tracker.check()
            if entry.kind == Kind.DIR:
                directories.append(entry)
                if entry.path:
                    self._make_dir(entry)
            elif entry.kind in (Kind.SYMLINK, Kind.FIFO, Kind.CHAR, Kind.BLOCK):
                self._make_special(entry)
        return directories

    def _make_dir(self, entry: Entry) -> None:
        parent = self._dirs.fd(entry.parent)
        try:
            os.mkdir(entry.name, 0o700, dir_fd=parent)
        except FileExistsError:
            st = os.stat(entry.name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):  # appeared since phase 1
                os.unlink(entry.name, dir_fd=parent)
                os.mkdir(entry.name, 0o700, dir_fd=parent)

    def _make_special(self, entry: Entry) -> None:
        """Create a symlink, FIFO or device under a temporary name, then replace."""
        parent = self._dirs.fd(entry.parent)
        tmp = _tmp_name()
        if entry.kind == Kind.SYMLINK:
            os.symlink(entry.target, tmp, dir_fd=parent)
        elif entry.kind == Kind.FIFO:
            os.mkfifo(tmp, 0o600, dir_fd=parent)
        else:
            try:
                os.mknod(tmp, 0o600 | _DEVICE_TYPES[entry.kind], entry.rdev, dir_fd=parent)
            except PermissionError:
                self._skip_device(entry, parent)
                return
        try:
            self._chown(tmp, parent, entry)
            if entry.kind != Kind.SYMLINK:  # Linux symlinks have no mode of their own
                os.chmod(tmp, entry.mode, dir_fd=parent)
            proc_path = entry_path(parent, tmp)
            if proc_path is not None:
                self._set_xattrs(proc_path, entry.xattrs, entry.path)
            os.utime(tmp, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=parent, follow_symlinks=False)
            os.replace(tmp, entry.name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise

    def _skip_device(self, entry: Entry, parent: int) -> None:
        """Without the right to create devices: keep an identical one, remove anything else."""
        log.warning(
            "tree restore %s: not permitted to create device %s; skipped",
            self._id,
            os.fsdecode(entry.path),
        )
        try:
            st = os.stat(entry.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_IFMT(st.st_mode) != _DEVICE_TYPES[entry.kind] or st.st_rdev != entry.rdev:
            os.unlink(entry.name, dir_fd=parent)

    def _chown(self, name: bytes, parent: int, entry: Entry) -> None:
        try:
            os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
        except PermissionError:
            if self._root_user:
                raise

    # -- phase 3 ------------------------------------------------------------------------

    def _write_files(self) -> int:
        """Write every regular file, batch by batch, fetching one batch ahead."""
        fetchers = ThreadPoolExecutor(FETCHERS, thread_name_prefix="safehold-tree-fetch")
        workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="safehold-tree-write")
        written = 0
        try:
            batches = self._batches()
            batch = next(batches, None)
            fetched = self._fetch(fetchers, batch) if batch else {}
            while batch is not None:
                following = next(batches, None)
                ahead = self._fetch(fetchers, following) if following else {}
                written += self._write_batch(workers, batch, fetched)
                batch, fetched = following, ahead
        finally:
            fetchers.shutdown(wait=True, cancel_futures=True)
            workers.shutdown(wait=True, cancel_futures=True)
        return written

    def _batches(self) -> Iterator[_Batch]:
        """Regular files' chunks in path order, cut into batches of bounded stored bytes."""
        batch = _Batch()
        manifest = self._manifest
        for entry in manifest.iter_entries():
            if entry.kind != Kind.FILE:
                continue
            job = _Job(entry, _tmp_name())
            batch.starts.append(job)
            for offset, indices in entry.runs:
                for index in indices:
                    row = manifest.chunk(index)
                    if index not in batch.targets:
                        batch.stored += row.stored_len
                    batch.targets.setdefault(index, []).append((job, offset))
                    job.data_bytes += row.raw_len
                    offset += row.raw_len
                    if batch.stored >= BATCH_BYTES:
                        yield batch
                        batch = _Batch()
            batch.ends.append(job)
            if len(batch.ends) >= BATCH_FILES:
                yield batch
                batch = _Batch()
        if batch.starts or batch.targets or batch.ends:
            yield batch

    def _fetch(self, pool: ThreadPoolExecutor, batch: _Batch) -> dict[int, Future[PackBytes]]:
        """Start fetching the batch's chunks (packs.BatchFetcher: packs filled in path
        order, batches cut in path order, so every byte is fetched once)."""
        rows = (self._manifest.chunk(index) for index in batch.targets)
        return self._fetcher.fetch(pool, ((r.pack, r.offset, r.stored_len) for r in rows))

    def _write_batch(
        self,
        pool: ThreadPoolExecutor,
        batch: _Batch,
        fetched: dict[int, Future[PackBytes]],
    ) -> int:
        """Open the batch's new files, verify and write its chunks, finish its files."""
        for job in batch.starts:
            self._tracker.check()
            self._open_job(job)
        rows: dict[int, list[tuple[int, ChunkRow]]] = {}
        for index in batch.targets:
            row = self._manifest.chunk(index)
            rows.setdefault(row.pack, []).append((index, row))
        written = 0
        writes: list[Future[int]] = []
        for pack, future in fetched.items():
            stored = future.result()
            for index, row in rows[pack]:
                targets = [(job.fd, offset) for job, offset in batch.targets[index]]
                path = batch.targets[index][0][0].entry.path
                piece = stored.piece(row.offset, row.stored_len)
                writes.append(pool.submit(_write_chunk, piece, row, targets, path))
        for write in writes:
            done = write.result()
            written += done
            self._tracker.advance(done)
        for job in batch.ends:
            self._close_job(job)
        return written

    def _open_job(self, job: _Job) -> None:
        parent = self._dirs.fd(job.entry.parent)
        job.fd = os.open(job.tmp, _FILE_FLAGS, 0o600, dir_fd=parent)
        self._open[job.tmp] = job
        os.ftruncate(job.fd, job.entry.size)  # the holes stay holes: only data is written

    def _close_job(self, job: _Job) -> None:
        """Apply the file's metadata, close it and move it over the old name."""
        entry = job.entry
        try:
            os.fchown(job.fd, entry.uid, entry.gid)
        except PermissionError:
            if self._root_user:
                raise
        os.fchmod(job.fd, entry.mode)  # after chown, which clears setuid/setgid
        self._set_xattrs(job.fd, entry.xattrs, entry.path)
        os.utime(job.fd, ns=(entry.mtime_ns, entry.mtime_ns))
        os.close(job.fd)
        job.fd = -1
        del self._open[job.tmp]
        parent = self._dirs.fd(entry.parent)
        os.replace(job.tmp, entry.name, src_dir_fd=parent, dst_dir_fd=parent)
        self._tracker.advance(max(0, entry.size - job.data_bytes))  # the holes

    def _discard_open_files(self) -> None:
        """After a failure: close and remove the temporary files of unfinished files."""
        for job in self._open.values():
            with contextlib.suppress(OSError):
                os.close(job.fd)
            with contextlib.suppress(OSError):
                os.unlink(job.tmp, dir_fd=self._dirs.fd(job.entry.parent))
        self._open.clear()

    # -- phase 4 ------------------------------------------------------------------------

    def _link_hardlinks(self) -> None:
        """Create every hard link as a link to its first path (restored in phase 3)."""
        sources = _Dirs(self._root)
        try:
            for entry in self._manifest.iter_entries():
                if entry.kind != Kind.HARDLINK:
                    continue
                self._tracker.check()
                source_dir, _, source_name = entry.target.rpartition(b"/")
                source = sources.fd(source_dir)
                parent = self._dirs.fd(entry.parent)
                tmp = _tmp_name()
                try:
                    os.link(
                        source_name,
                        tmp,
                        src_dir_fd=source,
                        dst_dir_fd=parent,
                        follow_symlinks=False,
                    )
                except FileNotFoundError:  # its first path was skipped (a device)
                    log.warning(
                        "tree restore %s: %s links to missing %s; skipped",
                        self._id,
                        os.fsdecode(entry.path),
                        os.fsdecode(entry.target),
                    )
                    continue
                os.replace(tmp, entry.name, src_dir_fd=parent, dst_dir_fd=parent)
                # rename() between two links of one inode does nothing: drop the spare.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=parent)
        finally:
            sources.close()

    # -- phase 5 ------------------------------------------------------------------------

    def _apply_directory_metadata(self, directories: list[Entry]) -> None:
        """Owner, mode, xattrs and mtime of every directory, children before parents."""
        for entry in reversed(directories):  # reverse path order: descendants first
            self._tracker.check()
            fd = self._dirs.fd(entry.path)
            try:
                os.fchown(fd, entry.uid, entry.gid)
            except PermissionError:
                if self._root_user:
                    raise
            os.fchmod(fd, entry.mode)
            self._set_xattrs(fd, entry.xattrs, entry.path, prune=True)
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))

    # -- xattrs -------------------------------------------------------------------------

    def _set_xattrs(
        self, target: int | bytes, xattrs: Xattrs, path: bytes, *, prune: bool = False
    ) -> None:
        """Set the entry's xattrs; with ``prune`` also remove others (security.* excepted).

        A file system or user that refuses xattrs gets one warning per restore, not a
        failure: the data matters more than the labels.
        """
        follow = isinstance(target, int)
        if prune:
            keep = {name for name, _ in xattrs}
            for name, _value in read_xattrs(target):
                if name not in keep and not name.startswith(b"security."):
                    call = partial(os.removexattr, target, name, follow_symlinks=follow)
                    self._refusable(path, call)
        for name, value in xattrs:
            self._refusable(path, partial(os.setxattr, target, name, value, follow_symlinks=follow))

    def _refusable(self, path: bytes, call: Callable[[], None]) -> None:
        """Run an xattr call; a refusal (unsupported, not permitted) only warns, once."""
        try:
            call()
        except OSError as exc:
            if exc.errno not in _XATTR_REFUSED:
                raise
            reason = exc.strerror or str(exc.errno)
            if reason not in self._warned:
                self._warned.add(reason)
                log.warning(
                    "tree restore %s: extended attributes refused (%s), e.g. on %s",
                    self._id,
                    reason,
                    os.fsdecode(path),
                )


def _write_chunk(
    stored: memoryview, row: ChunkRow, targets: list[tuple[int, int]], path: bytes
) -> int:
    """Verify one chunk and write it at each (fd, offset); returns raw bytes written.

    Runs on a pool thread. A chunk that fails verification is never written.
    """
    try:
        data = decode_chunk(stored, row)
    except CorruptData as exc:
        raise CorruptData(f"{exc}: chunk {row.sha256.hex()[:16]} of {os.fsdecode(path)!r}") from exc
    for fd, offset in targets:
        view = memoryview(data)
        while view:
            n = os.pwrite(fd, view, offset)
            view = view[n:]
            offset += n
    return len(data) * len(targets)
