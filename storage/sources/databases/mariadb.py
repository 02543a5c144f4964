"""MariaDB (and MySQL) databases on one server, through the mariadb command-line tools.

No MySQL driver is a dependency, so administrative SQL runs through ``mariadb --execute``
too; credentials travel in a private option file (storage.sources.databases.option_file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Final

from storage.sources.databases.config import MARIADB, ServerConfig
from storage.sources.databases.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DatastoreError,
)
from storage.sources.databases.names import checked_name, mariadb_literal, quoted_mariadb
from storage.sources.databases.option_file import option_file
from storage.sources.databases.tools import ToolEnv, dump_output, feed_input, run_tool

log = logging.getLogger(__name__)

RESERVED: Final = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
_DATABASE_EXISTS: Final = re.compile(r"\bERROR 1007\b")
# Client errors for a server that is not there or not answering (2002 socket, 2003 TCP,
# 2005 unknown host, 2006 gone away, 2013 lost, 1040 too many connections).
_UNREACHABLE: Final = re.compile(r"(?:ERROR|error:) (?:2002|2003|2005|2006|2013|1040)\b")
_USED_BYTES: Final = """
SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {schema}),
  (SELECT COALESCE(SUM(FILE_SIZE), 0) FROM information_schema.INNODB_SYS_TABLESPACES
    WHERE NAME LIKE {prefix})
  + (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES AS t
    WHERE TABLE_SCHEMA = {schema} AND NOT EXISTS (
      SELECT 1 FROM information_schema.INNODB_SYS_TABLESPACES AS s
      WHERE s.NAME = CONCAT(t.TABLE_SCHEMA, '/', t.TABLE_NAME)
        OR s.NAME LIKE CONCAT(t.TABLE_SCHEMA, '/', t.TABLE_NAME, '#P#%')))
"""
_VERSION: Final = re.compile(r"\d+(?:\.\d+)*")
# Variables the client tools read on their own (MYSQL_PWD is a password).
_CLIENT_ENV: Final = ("MYSQL_", "MARIADB_")


def unreachable(detail: str) -> bool:
    """True if the client says the server could not be reached."""
    return _UNREACHABLE.search(detail) is not None


def _tablespaces(name: str) -> str:
    """A LIKE pattern literal matching the tablespaces ("db/table") of a checked name."""
    # In a LIKE pattern "_" matches any character; MariaDB keeps "\\_" in a literal as is,
    # which LIKE then reads as the underscore itself.
    return "'" + name.replace("_", "\\_") + "/%'"


class MariadbDatastore:
    """Databases on one MariaDB (or MySQL) server, administered as the configured user."""

    type: Final = MARIADB

    def __init__(self, config: ServerConfig) -> None:
        if config.type != MARIADB:
            raise ValueError(f"not a mariadb configuration: {config.type}")
        self._config = config
        self._label = f"mariadb {config.host}:{config.port}"

    def __repr__(self) -> str:
        return f"MariadbDatastore({self._config!r})"

    def version(self) -> str:
        """The server's version, e.g. "10.11.19" (the "-MariaDB-..." suffix dropped)."""
        raw = self._sql("SELECT VERSION()")
        found = _VERSION.match(raw)
        return found.group() if found else raw

    def exists(self, name: str) -> bool:
        """True if the database (schema) exists."""
        literal = mariadb_literal(checked_name(name, RESERVED))
        sql = f"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {literal}"
        return self._sql(sql) != "0"

    def create_database(self, name: str) -> None:
        """CREATE DATABASE with the server's default character set; raises DatabaseExists."""
        self._sql(f"CREATE DATABASE {quoted_mariadb(checked_name(name, RESERVED))}")
        log.info("created database %s on %s", name, self._label)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS; idempotent."""
        self._sql(f"DROP DATABASE IF EXISTS {quoted_mariadb(checked_name(name, RESERVED))}")
        log.info("dropped database %s on %s", name, self._label)

    def used_bytes(self, name: str) -> int:
        """Bytes on disk: the tablespace files of InnoDB tables (whose statistics lag
        behind writes), data and index length of the others; raises DatabaseNotFound.
        Needs the PROCESS privilege."""
        checked = checked_name(name, RESERVED)
        sql = _USED_BYTES.format(schema=mariadb_literal(checked), prefix=_tablespaces(checked))
        found, size = self._sql(sql).split("\t")
        if found == "0":
            raise DatabaseNotFound(f"{self._label}: database {name} does not exist")
        return int(size)

    def endpoint(self) -> tuple[str, int | None]:
        """The configured (host, port)."""
        return self._config.host, self._config.port

    @contextlib.contextmanager
    def dump(self, name: str) -> Iterator[BinaryIO]:
        """mariadb-dump's SQL as a stream, one InnoDB snapshot; raises DumpFailed on exit."""
        checked = checked_name(name, RESERVED)
        with option_file(self._config) as options:
            argv = [
                "mariadb-dump",
                f"--defaults-extra-file={options}",  # must come first
                "--single-transaction",  # a consistent snapshot without locking tables
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                # No timestamp: unchanged databases then dump to identical bytes (dedupe).
                "--skip-dump-date",
                checked,
            ]
            with dump_output(argv, self._tool()) as stream:
                yield stream

    def restore(self, name: str, data: Iterable[bytes]) -> None:
        """Run the dump's SQL in the database; raises RestoreFailed at the first error
        (statements before it stay applied: drop and recreate to retry)."""
        checked = checked_name(name, RESERVED)
        with option_file(self._config) as options:
            argv = ["mariadb", f"--defaults-extra-file={options}", "--batch", checked]
            feed_input(argv, data, self._tool())
        log.info("restored database %s on %s", name, self._label)

    def _sql(self, sql: str) -> str:
        """Run one statement; its output without column names, stripped. Raises
        DatabaseExists, ServerUnavailable or DatastoreError."""
        with option_file(self._config) as options:
            argv = [
                "mariadb",
                f"--defaults-extra-file={options}",
                "--batch",
                "--skip-column-names",
                f"--execute={sql}",
            ]
            done = run_tool(argv, self._tool())
        if done.returncode == 0:
            return done.stdout.strip()
        failure = DatabaseExists if _DATABASE_EXISTS.search(done.stderr) else DatastoreError
        # The client echoes the failed statement around its error: keep the error alone.
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        detail = "\n".join(errors) or done.stderr
        raise self._tool().error(failure, f"mariadb exited {done.returncode}", detail)

    def _tool(self) -> ToolEnv:
        env = {key: value for key, value in os.environ.items() if not key.startswith(_CLIENT_ENV)}
        secrets = (self._config.password,) if self._config.password else ()
        return ToolEnv(env=env, secrets=secrets, unreachable=unreachable, label=self._label)
