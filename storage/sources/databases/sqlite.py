"""SQLite databases: one file ``<directory>/<name>.sqlite3`` each; always available.

Dumps use SQLite's online backup API, so a database in use is copied consistently;
restores check the data is an intact SQLite database before renaming it into place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from storage.durable import fsync_directory
from storage.sources.databases.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DatastoreError,
    DumpFailed,
    RestoreFailed,
    reason_from,
)
from storage.sources.databases.names import checked_name

log = logging.getLogger(__name__)

SUFFIX: Final = ".sqlite3"
# Files SQLite keeps beside a database while it is in use.
_SIDECARS: Final = ("-wal", "-shm", "-journal")
_BUSY_TIMEOUT = 30.0


class SqliteDatastore:
    """SQLite databases as files in one directory (created on first use)."""

    type: Final = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory.absolute()

    def __repr__(self) -> str:
        return f"SqliteDatastore({str(self.directory)!r})"

    def path(self, name: str) -> Path:
        """The database's file; raises ValueError for a bad name."""
        return self.directory / f"{checked_name(name)}{SUFFIX}"

    def version(self) -> str:
        """The SQLite library's version, e.g. "3.40.1"."""
        return sqlite3.sqlite_version

    def exists(self, name: str) -> bool:
        """True if the database's file exists."""
        return self.path(name).is_file()

    def create_database(self, name: str) -> None:
        """Create the (empty) database file, mode 0600; raises DatabaseExists."""
        path = self.path(name)
        with _os_errors(f"cannot create sqlite database {name}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                # A zero-length file is a valid empty database: SQLite writes the header
                # with the first change.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                raise DatabaseExists(f"sqlite database {name} exists") from None
        log.info("created sqlite database %s", path)

    def drop_database(self, name: str) -> None:
        """Remove the database file and its journals; idempotent."""
        path = self.path(name)
        with _os_errors(f"cannot drop sqlite database {name}"):
            _remove_sidecars(path)
            path.unlink(missing_ok=True)
        log.info("dropped sqlite database %s", path)

    def used_bytes(self, name: str) -> int:
        """Size of the database file plus its write-ahead log; raises DatabaseNotFound."""
        path = self.path(name)
        with _os_errors(f"cannot measure sqlite database {name}"):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise DatabaseNotFound(f"sqlite database {name} does not exist") from None
            wal = _with_suffix(path, "-wal")
            return size + (wal.stat().st_size if wal.exists() else 0)

    def endpoint(self) -> tuple[str, int | None]:
        """(the directory, None): SQLite has no server."""
        return str(self.directory), None

    @contextlib.contextmanager
    def dump(self, name: str) -> Iterator[BinaryIO]:
        """A consistent copy of the database file as a stream; raises DumpFailed (also on
        exit if the block ends before the stream did)."""
        path = self.path(name)
        with self._scratch(name, "dump") as copy:
            _backup(path, copy, name)
            with open(copy, "rb") as stream:
                yield stream
                if stream.read(1):  # as for the server tools: a truncated read is no dump
                    raise DumpFailed(f"sqlite {name}: the dump was left before its end")

    def restore(self, name: str, data: Iterable[bytes]) -> None:
        """Replace the existing (empty) database with the dumped one, atomically; raises
        DatabaseNotFound, or RestoreFailed if the data is not an intact SQLite database
        (the database is then untouched)."""
        path = self.path(name)
        if not path.is_file():
            raise DatabaseNotFound(f"sqlite database {name} does not exist")
        with self._scratch(name, "restoring") as staged:
            with _os_errors(f"cannot stage sqlite database {name}"):
                _write_synced(staged, data)
            _check_integrity(staged, name)
            with _os_errors(f"cannot replace sqlite database {name}"):
                # Journals of the old file must not be replayed onto the new one.
                _remove_sidecars(path)
                os.replace(staged, path)
                fsync_directory(self.directory, best_effort=True)
        log.info("restored sqlite database %s", path)

    @contextlib.contextmanager
    def _scratch(self, name: str, purpose: str) -> Iterator[Path]:
        """A fresh private (0600) file beside the database, removed with its journals
        on exit; beside it so that a rename into place stays on one file system."""
        with _os_errors(f"cannot create a scratch file for sqlite database {name}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, scratch = tempfile.mkstemp(
                prefix=f".{name}.", suffix=f".{purpose}", dir=self.directory
            )
            os.close(fd)
        path = Path(scratch)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                _remove_sidecars(path)
                path.unlink(missing_ok=True)


def _backup(source: Path, target: Path, name: str) -> None:
    """Copy ``source`` into the database file ``target`` online; raises DumpFailed.

    The backup API can only write into a database, not a stream: hence the file.
    """
    try:
        # Read-only, so that dumping a missing database fails instead of creating it.
        reader = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT)
        with contextlib.closing(reader), contextlib.closing(sqlite3.connect(target)) as writer:
            # One step (pages=-1) reads the whole source under one read lock, so the copy
            # is one snapshot; stepping restarts after every concurrent write and may
            # never finish while writers are busy.
            reader.backup(writer)
    except sqlite3.Error as exc:
        raise DumpFailed(reason_from(f"sqlite backup of {name} failed", str(exc))) from None


def _check_integrity(path: Path, name: str) -> None:
    """RestoreFailed unless ``path`` is a SQLite database passing integrity_check."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as exc:
        raise RestoreFailed(reason_from(f"dump for sqlite {name} is unusable", str(exc))) from None
    if rows != [("ok",)]:
        detail = "\n".join(str(row[0]) for row in rows)
        raise RestoreFailed(reason_from(f"dump for sqlite {name} is corrupt", detail))


def _write_synced(path: Path, data: Iterable[bytes]) -> None:
    """Write the chunks to ``path`` (truncating) and fsync it."""
    with open(path, "wb") as out:
        for chunk in data:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _remove_sidecars(path: Path) -> None:
    for suffix in _SIDECARS:
        _with_suffix(path, suffix).unlink(missing_ok=True)


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Translate an OSError into a DatastoreError saying ``what`` failed, and why."""
    try:
        yield
    except OSError as exc:
        raise DatastoreError(reason_from(what, exc.strerror or str(exc))) from None
