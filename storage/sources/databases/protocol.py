"""What every datastore driver offers: the ``Datastore`` protocol."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol


class Datastore(Protocol):
    """Databases on one datastore server (or SQLite directory), dumped and restored whole.

    Every method taking a name raises ValueError for a name ``checked_name`` refuses,
    before touching the server; failures are ``DatastoreError``s whose reasons never
    hold a password, ServerUnavailable when the server cannot be reached.
    """

    @property
    def type(self) -> str:
        """The datastore type: "sqlite", "postgresql" or "mariadb"."""
        ...

    def version(self) -> str:
        """The server's version, e.g. "15.20", "10.11.19", "3.40.1"."""
        ...

    def exists(self, name: str) -> bool:
        """True if the database exists."""
        ...

    def create_database(self, name: str) -> None:
        """Create an empty database; raises DatabaseExists if it exists."""
        ...

    def drop_database(self, name: str) -> None:
        """Remove the database and everything in it; idempotent (missing is done)."""
        ...

    def used_bytes(self, name: str) -> int:
        """Bytes the database occupies on the server; raises DatabaseNotFound."""
        ...

    def endpoint(self) -> tuple[str, int | None]:
        """(host, port) to show users; SQLite: (its directory, None)."""
        ...

    def dump(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A consistent online dump as a readable stream; raises DumpFailed on exit if
        the dump failed (also after everything was read) or was not read to its end; an
        exception in the block stops the dump and propagates."""
        ...

    def restore(self, name: str, data: Iterable[bytes]) -> None:
        """Load a dump of ``dump`` into the existing, empty database; raises RestoreFailed."""
        ...
