"""PostgreSQL databases on one server: SQL through psycopg2, dumps through pg_dump.

Dumps are ``pg_dump --format=custom --compress=0`` streamed from the tool's stdout;
restores feed the dump to ``pg_restore`` on stdin in one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Final

from sqlalchemy import URL, Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from storage.sources.databases.config import POSTGRESQL, ServerConfig
from storage.sources.databases.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DatastoreError,
    ServerUnavailable,
    reason_from,
)
from storage.sources.databases.names import checked_name, quoted_pg
from storage.sources.databases.tools import ToolEnv, dump_output, feed_input

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10
# The database administrative SQL connects to; present on every stock server.
MAINTENANCE_DB: Final = "postgres"
RESERVED: Final = frozenset({"postgres", "template0", "template1"})
_DUPLICATE_DATABASE: Final = "42P04"
# What libpq says when the server is not there (or not ready), as opposed to refusing us.
_UNREACHABLE: Final = re.compile(
    r"Connection refused|timed out|timeout expired|No route to host|Network is unreachable"
    r"|could not translate host name|Name or service not known"
    r"|server closed the connection unexpectedly|the database system is"
    r"|too many clients|remaining connection slots",
    re.IGNORECASE,
)


def unreachable(detail: str) -> bool:
    """True if libpq's message says the server could not be reached or is not ready."""
    return _UNREACHABLE.search(detail) is not None


class PostgresqlDatastore:
    """Databases on one PostgreSQL server, administered as the configured user."""

    type: Final = POSTGRESQL

    def __init__(self, config: ServerConfig) -> None:
        if config.type != POSTGRESQL:
            raise ValueError(f"not a postgresql configuration: {config.type}")
        self._config = config
        self._label = f"postgresql {config.host}:{config.port}"
        url = URL.create(
            "postgresql+psycopg2",
            username=config.user,
            password=config.password or None,
            host=config.host,
            port=config.port,
            database=MAINTENANCE_DB,
        )
        # No pool: administrative calls are rare, and idle connections would block
        # DROP DATABASE of nothing but still count against the server's limit.
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # CREATE/DROP DATABASE refuse transactions
            connect_args={"connect_timeout": CONNECT_TIMEOUT},
        )

    def __repr__(self) -> str:
        return f"PostgresqlDatastore({self._config!r})"

    def version(self) -> str:
        """The server's version, e.g. "15.20" (distribution suffixes dropped)."""
        return str(self._scalar("SHOW server_version")).split()[0]

    def exists(self, name: str) -> bool:
        """True if the database exists."""
        sql = "SELECT 1 FROM pg_database WHERE datname = :name"
        return self._scalar(sql, name=checked_name(name, RESERVED)) is not None

    def create_database(self, name: str) -> None:
        """CREATE DATABASE; raises DatabaseExists if the name is taken."""
        self._scalar(f"CREATE DATABASE {quoted_pg(checked_name(name, RESERVED))}")
        log.info("created database %s on %s", name, self._label)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE, disconnecting its sessions; idempotent."""
        self._scalar(
            f"DROP DATABASE IF EXISTS {quoted_pg(checked_name(name, RESERVED))} WITH (FORCE)"
        )
        log.info("dropped database %s on %s", name, self._label)

    def used_bytes(self, name: str) -> int:
        """pg_database_size of the database; raises DatabaseNotFound."""
        sql = "SELECT pg_database_size(oid) FROM pg_database WHERE datname = :name"
        size = self._scalar(sql, name=checked_name(name, RESERVED))
        if size is None:
            raise DatabaseNotFound(f"{self._label}: database {name} does not exist")
        return int(size)

    def endpoint(self) -> tuple[str, int | None]:
        """The configured (host, port)."""
        return self._config.host, self._config.port

    def dump(self, name: str) -> AbstractContextManager[BinaryIO]:
        """pg_dump's custom-format archive as a stream; raises DumpFailed on exit."""
        # Uncompressed: compression would scatter every change over the rest of the
        # stream, defeating the content-defined chunking that dedupes between backups
        # (the chunks are compressed downstream).
        argv = ["pg_dump", *self._connection_args(), "--format=custom", "--compress=0"]
        return dump_output([*argv, f"--dbname={checked_name(name, RESERVED)}"], self._tool())

    def restore(self, name: str, data: Iterable[bytes]) -> None:
        """pg_restore from stdin into the database, all or nothing; raises RestoreFailed."""
        argv = [
            "pg_restore",
            *self._connection_args(),
            "--no-owner",  # the objects belong to the restoring user, not the original roles
            "--single-transaction",  # a failed restore leaves the database empty again
            f"--dbname={checked_name(name, RESERVED)}",
        ]
        feed_input(argv, data, self._tool())
        log.info("restored database %s on %s", name, self._label)

    def _connection_args(self) -> list[str]:
        config = self._config
        # --no-password: fail instead of prompting when the server wants a password.
        return [
            "--host",
            config.host,
            "--port",
            str(config.port),
            "--username",
            config.user,
            "--no-password",
        ]

    def _tool(self) -> ToolEnv:
        # The operator's own PG* variables (PGSERVICE, PGOPTIONS, PGDATABASE...) must not
        # redirect or alter the tools: only ours are passed on.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = str(CONNECT_TIMEOUT)
        if self._config.password:
            env["PGPASSWORD"] = self._config.password
        return ToolEnv(env=env, secrets=self._secrets(), unreachable=unreachable, label=self._label)

    def _secrets(self) -> tuple[str, ...]:
        return (self._config.password,) if self._config.password else ()

    def _scalar(self, sql: str, **params: str) -> Any:
        """The first column of the first row (None without rows); raises DatastoreError."""
        with self._connected() as connection:
            result = connection.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None

    @contextlib.contextmanager
    def _connected(self) -> Iterator[Connection]:
        """A connection to the maintenance database; driver errors become DatastoreErrors."""
        try:
            connection = self._engine.connect()
        except DBAPIError as exc:
            raise self._failure(exc) from None
        try:
            with connection:
                yield connection
        except DBAPIError as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: DBAPIError) -> DatastoreError:
        """The DatastoreError for a driver error, with a scrubbed reason."""
        # The driver's own message: SQLAlchemy's wrapper adds the statement and a link.
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        kind: type[DatastoreError] = DatastoreError
        if getattr(exc.orig, "pgcode", None) == _DUPLICATE_DATABASE:
            kind = DatabaseExists
        elif unreachable(detail):
            kind = ServerUnavailable
        return kind(reason_from(self._label, detail, self._secrets()))
