"""Writing a tree backup: walk -> entries and chunks -> packs -> manifest, written last.

The walk (walk.walk_sorted) runs on the calling thread and describes each path; regular
files go through the pipeline (pipeline.Pipeline) that reads and chunks them on a thread
pool. With a parent, a file whose path, size, mtime_ns, ctime_ns and inode are unchanged is
taken from the parent's manifest without being read. The manifest write is the commit point.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]

from storage.errors import ObjectNotFound
from storage.format.progress import Progress, ProgressFn
from storage.format.tree.chunking import CHUNK_ROW, ChunkParams
from storage.format.tree.entries import FLAG_CHANGED, FLAG_LINKED, Entry, Kind, kind_of_mode
from storage.format.tree.manifest import (
    TREE_VERSION,
    TreeManifest,
    TreeStats,
    decode_manifest,
    encode_manifest,
    tree_manifest_exists,
)
from storage.format.tree.packs import MIN_PACK_SIZE, PackWriter
from storage.format.tree.pipeline import SMALL_FILE, Counters, FileRead, Pipeline
from storage.format.tree.table import ChunkTable
from storage.format.tree.walk import (
    Found,
    data_extents,
    entry_path,
    estimate_bytes,
    read_xattrs,
    walk_sorted,
)
from storage.layout import pack_name, tree_manifest_key, validate_backup_id, validate_share_id
from storage.objects import ObjectStore, translate_errors

log = logging.getLogger(__name__)

MAX_PACK_SIZE = 1 << 30
# A file whose ctime is this close to (or after) the start of the parent's walk may have
# been changed again within the same timestamp tick after the parent looked at it, leaving
# size, mtime and ctime as they were: such "racy" files are read again, never reused.
RACY_NS = 2_000_000_000
MAX_WORKERS = 32
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True)
class TreeBackupResult:
    """What a committed tree backup wrote: its own packs + the manifest."""

    object_count: int  # packs written + 1 (the manifest)
    stored_bytes: int  # bytes written (packs + manifest)
    size_bytes: int  # == stats.bytes_total
    stats: TreeStats


def write_tree_backup(
    store: ObjectStore,
    *,
    share_id: str,
    backup_id: str,
    source_dir: Path,
    record: dict[str, Any],
    parent: TreeManifest | None = None,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    before_commit: Callable[[], None] | None = None,
    avg_chunk: int = 1 << 20,
    pack_size: int = 16 << 20,
    zstd_level: int = 3,
    workers: int = 2,
) -> TreeBackupResult:
    """Back up the tree at ``source_dir`` as ``backup_id``; the manifest write commits it.

    Idempotent per backup id: a retry writes the same pack keys (seq 0, 1, ... in walk
    order) and then the manifest. With ``parent`` (same share), unchanged files are not
    read and chunks the parent has are not stored again; the new manifest still lists
    every chunk and pack it needs. ``stop`` ends the work at the next chunk (Stopped);
    ``before_commit`` runs just before the manifest is written and may raise to keep the
    backup uncommitted. Raises StorageError (ObjectNotFound if ``source_dir`` or the
    parent's manifest is gone); ValueError on bad parameters; TypeError if ``record`` is
    not JSON-able.
    """
    params = _check_request(
        share_id, backup_id, record, parent, avg_chunk, pack_size, zstd_level, workers
    )
    log.info(
        "tree backup %s: share %s from %s (parent %s)",
        backup_id,
        share_id,
        source_dir,
        parent.backup_id if parent else None,
    )
    with translate_errors("tree backup", str(source_dir)):
        root_fd = os.open(source_dir, _ROOT_FLAGS)
        try:
            total = estimate_bytes(root_fd, Progress(None, 0, stop).check)
            tracker = Progress(progress, total, stop)
            run = _Run(store, share_id, backup_id, params, parent, tracker)
            run.walk(root_fd, pack_size, zstd_level, workers, stop)
        finally:
            os.close(root_fd)
    payload, stats = run.manifest(record)
    tracker.check()
    if parent is not None and not tree_manifest_exists(
        store, share_id=share_id, backup_id=parent.backup_id
    ):
        # Its packs may be going away: committing would make an unrestorable backup.
        raise ObjectNotFound(f"parent {parent.backup_id} of {backup_id} was deleted meanwhile")
    if before_commit is not None:
        before_commit()
    store.put(tree_manifest_key(share_id, backup_id), payload)  # the commit point
    tracker.finish()
    log.info("tree backup %s: committed, stats %s", backup_id, stats.counters())
    return TreeBackupResult(
        object_count=stats.packs_written + 1,
        stored_bytes=stats.stored_bytes + len(payload),
        size_bytes=stats.bytes_total,
        stats=stats,
    )


def _check_request(
    share_id: str,
    backup_id: str,
    record: Any,
    parent: TreeManifest | None,
    avg_chunk: int,
    pack_size: int,
    zstd_level: int,
    workers: int,
) -> ChunkParams:
    """Everything write_tree_backup refuses before touching data: ValueError, TypeError."""
    validate_share_id(share_id)
    validate_backup_id(backup_id)
    params = ChunkParams.for_average(avg_chunk)
    if not MIN_PACK_SIZE <= pack_size <= MAX_PACK_SIZE:
        raise ValueError(f"pack_size {pack_size} must be within 64 KiB..1 GiB")
    if not 1 <= zstd_level <= 22:
        raise ValueError(f"zstd_level {zstd_level} must be within 1..22")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers {workers} must be within 1..{MAX_WORKERS}")
    if parent is not None and (parent.share_id != share_id or parent.backup_id == backup_id):
        raise ValueError(f"tree backup {parent.backup_id} cannot be the parent of {backup_id}")
    if not isinstance(record, dict):
        raise TypeError("record must be a dict")
    json.dumps(record)
    return params


class _Run:
    """One backup run's state: counters, chunk table, pack writer and encoded entries."""

    def __init__(
        self,
        store: ObjectStore,
        share_id: str,
        backup_id: str,
        params: ChunkParams,
        parent: TreeManifest | None,
        tracker: Progress,
    ) -> None:
        self._store = store
        self._share_id = share_id
        self._backup_id = backup_id
        self._params = params
        self._parent = parent
        self._tracker = tracker
        self.counters = Counters()
        self.table = ChunkTable(parent)
        self._entries = bytearray()
        self._entry_count = 0
        self._packer = msgpack.Packer(use_bin_type=True)
        self._links: dict[tuple[int, int], bytes] = {}  # (st_dev, st_ino) -> first path
        self._parent_files = _ParentCursor(parent)
        self._pack_sizes: list[int] = []
        self._started_ns = time.time_ns()

    def walk(
        self, root_fd: int, pack_size: int, level: int, workers: int, stop: threading.Event | None
    ) -> None:
        """Walk, read and store the tree; every pack is uploaded when this returns."""
        packs = PackWriter(self._store, self._share_id, self._backup_id, pack_size)
        pipeline = Pipeline(
            backup_id=self._backup_id,
            table=self.table,
            packs=packs,
            params=self._params,
            level=level,
            workers=workers,
            tracker=self._tracker,
            counters=self.counters,
            stop=stop,
            emit=self._emit,
        )
        try:
            for found in walk_sorted(root_fd, self._tracker.check):
                self._tracker.check()
                item = self._describe(found)
                if item is not None:
                    pipeline.add(item)
            pipeline.finish()
            self._pack_sizes = packs.finish()
        finally:
            pipeline.close()
            packs.close()
        for seq, size in enumerate(self._pack_sizes):
            self.table.set_pack_size(pack_name(self._backup_id, seq), size)

    def _emit(self, entry: Entry) -> None:
        """Append a finished entry (walk order) to the encoded entry stream."""
        if entry.kind == Kind.FILE:
            self.counters.bytes_total += entry.size
        self._entries += self._packer.pack(entry.to_array())
        self._entry_count += 1

    def _describe(self, found: Found) -> Entry | FileRead | None:
        """What to record for a walked path; None for what is skipped (sockets, vanished)."""
        st = found.st
        kind = kind_of_mode(st.st_mode)
        shown = os.fsdecode(found.path)
        if kind is None:
            log.warning("tree backup %s: skipping socket %s", self._backup_id, shown)
            return None
        flags = 0
        if kind != Kind.DIR and st.st_nlink > 1:
            first = self._links.setdefault((st.st_dev, st.st_ino), found.path)
            if first != found.path:
                self.counters.hardlinks += 1
                return _entry(found.path, Kind.HARDLINK, st, target=first)
            flags = FLAG_LINKED
        if kind == Kind.FILE:
            return self._file(found, flags)
        xattrs = self._xattrs(found)
        extra: dict[str, Any] = {}
        if kind == Kind.DIR:
            self.counters.directories += 1
        elif kind == Kind.SYMLINK:
            self.counters.symlinks += 1
            extra["target"] = os.readlink(found.name, dir_fd=found.dir_fd)
        else:
            self.counters.specials += 1
            if kind in (Kind.CHAR, Kind.BLOCK):
                extra["rdev"] = st.st_rdev
        return _entry(found.path, kind, st, flags=flags, xattrs=xattrs, **extra)

    @staticmethod
    def _xattrs(found: Found) -> tuple[tuple[bytes, bytes], ...]:
        """The xattrs of a walked path (by name: files being read use their fd instead)."""
        if found.path == b"":
            return read_xattrs(found.dir_fd)
        proc_path = entry_path(found.dir_fd, found.name)
        return read_xattrs(proc_path) if proc_path is not None else ()

    def _file(self, found: Found, flags: int) -> Entry | FileRead | None:
        """A regular file: reused from the parent, empty, or opened to be read."""
        st = found.st
        same = self._parent_files.match(found.path, st)
        if same is not None:
            self.counters.files += 1
            self.counters.bytes_reused += st.st_size
            self._tracker.advance(st.st_size)
            runs = self.table.copy_raw_runs(same)
            xattrs = self._xattrs(found)
            return _entry(found.path, Kind.FILE, st, flags=flags, xattrs=xattrs, runs=runs)
        if st.st_size == 0:
            self.counters.files += 1
            xattrs = self._xattrs(found)
            return _entry(found.path, Kind.FILE, st, flags=flags, xattrs=xattrs)
        try:
            fd = os.open(found.name, _FILE_FLAGS, dir_fd=found.dir_fd)
        except (FileNotFoundError, NotADirectoryError):
            self._vanished(found, "vanished before it was read")
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # replaced by a symlink since it was listed
                self._vanished(found, "was replaced before it was read")
                return None
            raise
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                os.close(fd)
                self._vanished(found, "was replaced before it was read")
                return None
            extents = data_extents(fd, before.st_size, before.st_blocks)
            small = before.st_size <= min(SMALL_FILE, self._params.span)
            # A small file's worker reads its xattrs through the fd (see pipeline).
            xattrs = () if small else read_xattrs(fd)
        except BaseException:
            os.close(fd)
            raise
        self.counters.files += 1
        span = self._params.span
        spans = [
            (offset, min(span, end - offset))
            for start, end in extents
            for offset in range(start, end, span)
        ]
        return FileRead(found.path, fd, before, flags, xattrs, deque(spans), small=small)

    def _vanished(self, found: Found, why: str) -> None:
        """Skip a file that went away; a later link to its inode becomes the first path."""
        shown = os.fsdecode(found.path)
        log.warning("tree backup %s: %s %s; not recorded", self._backup_id, shown, why)
        key = (found.st.st_dev, found.st.st_ino)
        if self._links.get(key) == found.path:
            del self._links[key]

    def manifest(self, record: dict[str, Any]) -> tuple[bytes, TreeStats]:
        """The encoded (and read-back verified) manifest and the run's stats."""
        c = self.counters
        stats = TreeStats(
            files=c.files,
            directories=c.directories,
            symlinks=c.symlinks,
            hardlinks=c.hardlinks,
            specials=c.specials,
            bytes_total=c.bytes_total,
            bytes_read=c.bytes_read,
            bytes_reused=c.bytes_reused,
            chunks_new=c.chunks_new,
            chunks_deduplicated=c.chunks_deduplicated,
            stored_bytes=sum(self._pack_sizes),
            packs_written=len(self._pack_sizes),
            changed_while_read=tuple(c.changed_while_read),
        )
        header = {
            "version": TREE_VERSION,
            "kind": "directory-tree",
            "share_id": self._share_id,
            "backup_id": self._backup_id,
            "parent_id": self._parent.backup_id if self._parent else None,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "started_ns": self._started_ns,
            "record": record,
            "stats": stats.counters(),
            "chunking": self._params.as_dict(),
            "packs": self.table.packs(),
            "chunk_count": len(self.table.rows) // CHUNK_ROW.size,
            "entry_count": self._entry_count,
            "size_bytes": stats.bytes_total,
        }
        payload = encode_manifest(header, bytes(self.table.rows), bytes(self._entries))
        decode_manifest(payload)  # every reader verifies it: never commit one that fails
        return payload, stats


def _entry(path: bytes, kind: Kind, st: os.stat_result, **fields: Any) -> Entry:
    """An entry with the metadata of ``st`` (file size only for regular files)."""
    return Entry(
        path=path,
        kind=kind,
        mode=st.st_mode & 0o7777,
        uid=st.st_uid,
        gid=st.st_gid,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        ino=st.st_ino,
        size=st.st_size if kind == Kind.FILE else 0,
        **fields,
    )


class _ParentCursor:
    """The parent's entries, walked forward in step with the (same-ordered) new walk.

    Works on the parent's raw entry arrays (verified when the parent was decoded):
    building Entry objects for every parent path would cost more than the match itself.
    """

    def __init__(self, parent: TreeManifest | None) -> None:
        self._arrays = parent.iter_arrays() if parent is not None else iter(())
        self._current: list[Any] | None = next(self._arrays, None)
        self._trusted_before = parent.started_ns - RACY_NS if parent is not None else 0

    def match(self, path: bytes, st: os.stat_result) -> list[list[Any]] | None:
        """The parent's raw runs for ``path`` if it is the same unchanged regular file."""
        current = self._current
        while current is not None and current[0] < path:
            current = next(self._arrays, None)
        self._current = current
        if current is None or current[0] != path or current[1] != Kind.FILE:
            return None
        _path, _kind, _mode, _uid, _gid, mtime_ns, ctime_ns, ino, size, flags, _x, runs = current
        if flags & FLAG_CHANGED:
            return None  # its stored content may be torn: read it again
        if ctime_ns >= self._trusted_before:
            return None  # racy: changed too close to the parent's look at it
        if (size, mtime_ns, ctime_ns, ino) != (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
        ):
            return None
        runs_: list[list[Any]] = runs
        return runs_
