"""SQL clients for the datastore tests: seed data, compare query results, run a writer.

Each client talks to one test server the way a user would (sqlite3, psycopg2, the
mariadb CLI), independently of the drivers under test.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
MARIADB_ARGS = ["mariadb", "--host=127.0.0.1", "--port=3306", "--user=root", "--protocol=TCP"]

Row = tuple[Any, ...]


class SqlClient(Protocol):
    """Runs SQL in one database of a test server."""

    seed: str  # a few tables with rows: text-heavy, blobs, numbers, a view
    compared: tuple[str, ...]  # queries whose results a restore must reproduce
    writer_setup: str  # items, counter, control (stop flag) and some bulk

    def run(self, db: str, script: str) -> None: ...

    def rows(self, db: str, query: str) -> list[Row]: ...

    def writer(self, db: str) -> Callable[[], None]:
        """Start a writer adding one item and bumping the counter per transaction until
        the returned function stops it."""
        ...


_TEXT = "Lorem ipsum ''quoted'' back\\slash, ünïcødé ✓ — "
_MARIADB_TEXT = _TEXT.replace("\\", "\\\\")  # MariaDB literals read backslash escapes
_COMPARED = (
    "SELECT id, title, body FROM docs ORDER BY id",
    "SELECT id, data FROM blobs ORDER BY id",
    "SELECT id, n, at FROM numbers ORDER BY id",
    "SELECT id, len FROM doc_lengths ORDER BY id",
    "SELECT COUNT(*) FROM docs",
)
CONSISTENCY = (
    "SELECT (SELECT n FROM counter), (SELECT COUNT(*) FROM items), (SELECT MAX(id) FROM items)"
)
COUNTER = "SELECT n FROM counter"


class SqliteClient:
    """sqlite3 on the files of a SqliteDatastore directory."""

    seed = f"""
        CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 300)
        INSERT INTO docs SELECT i, 'título ' || i,
            replace(hex(zeroblob(40)), '00', '{_TEXT}' || i || char(9, 10)) FROM s;
        CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)
        INSERT INTO blobs SELECT i, randomblob(603) FROM s;
        CREATE TABLE numbers (id INTEGER PRIMARY KEY AUTOINCREMENT, n REAL, at TEXT);
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
        INSERT INTO numbers (n, at) SELECT i * 1.5, datetime('2024-01-01', '+' || i || ' hours')
            FROM s;
        CREATE VIEW doc_lengths AS SELECT id, length(body) AS len FROM docs;
    """
    compared: tuple[str, ...] = _COMPARED
    writer_setup = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, pad TEXT);
        CREATE TABLE counter (n INTEGER);
        INSERT INTO counter VALUES (0);
        CREATE TABLE bulk (id INTEGER PRIMARY KEY, data BLOB);
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 4000)
        INSERT INTO bulk SELECT i, randomblob(2000) FROM s;
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _connect(self, db: str) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(self.directory / f"{db}.sqlite3", timeout=30))

    def run(self, db: str, script: str) -> None:
        with self._connect(db) as conn:
            conn.executescript(script)

    def rows(self, db: str, query: str) -> list[Row]:
        with self._connect(db) as conn:
            return [tuple(row) for row in conn.execute(query)]

    def writer(self, db: str) -> Callable[[], None]:
        stop = threading.Event()

        def write() -> None:
            with self._connect(db) as conn:
                while not stop.is_set():
                    with conn:  # one transaction
                        conn.execute("INSERT INTO items (pad) VALUES (hex(randomblob(50)))")
                        conn.execute("UPDATE counter SET n = n + 1")

        thread = threading.Thread(target=write, daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(10)

        return halt


class PostgresqlClient:
    """psycopg2 through SQLAlchemy, and psql for the writer."""

    seed = f"""
        CREATE TABLE docs (id integer PRIMARY KEY, title text NOT NULL, body text NOT NULL);
        INSERT INTO docs SELECT i, 'título ' || i, repeat('{_TEXT}' || i || E'\\t\\n', 40)
            FROM generate_series(1, 300) AS i;
        CREATE TABLE blobs (id integer PRIMARY KEY, data bytea NOT NULL);
        INSERT INTO blobs SELECT i, decode(repeat(md5(i::text), 19), 'hex') || '\\x00ff00'::bytea
            FROM generate_series(1, 50) AS i;
        CREATE TABLE numbers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            n numeric(20, 5), at timestamptz);
        INSERT INTO numbers (n, at)
            SELECT i * 1.5, '2024-01-01'::timestamptz + i * interval '1 hour'
            FROM generate_series(1, 1000) AS i;
        CREATE VIEW doc_lengths AS SELECT id, length(body) AS len FROM docs;
    """
    compared: tuple[str, ...] = _COMPARED
    writer_setup = """
        CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, pad text);
        CREATE TABLE counter (n bigint);
        INSERT INTO counter VALUES (0);
        CREATE TABLE control (stop boolean);
        INSERT INTO control VALUES (false);
        CREATE TABLE bulk AS SELECT i AS id, md5(i::text) AS data FROM generate_series(1, 50000) i;
    """

    def run(self, db: str, script: str) -> None:
        with self._connection(db) as conn:
            conn.exec_driver_sql(script)

    def rows(self, db: str, query: str) -> list[Row]:
        with self._connection(db) as conn:
            return [tuple(_plain(v) for v in row) for row in conn.exec_driver_sql(query)]

    @contextlib.contextmanager
    def _connection(self, db: str) -> Iterator[Connection]:
        engine = create_engine(PG_URL.format(db=db), poolclass=NullPool)
        with engine.begin() as conn:
            yield conn

    def writer(self, db: str) -> Callable[[], None]:
        loop = (
            "DO $$ BEGIN LOOP EXIT WHEN (SELECT stop FROM control);"
            " INSERT INTO items (pad) VALUES (md5(random()::text));"
            " UPDATE counter SET n = n + 1; COMMIT; END LOOP; END $$"
        )
        argv = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1"]
        proc = subprocess.Popen([*argv, "-c", loop], stdout=subprocess.DEVNULL)

        def halt() -> None:
            self.run(db, "UPDATE control SET stop = true")
            assert proc.wait(10) == 0

        return halt


class MariadbClient:
    """The mariadb CLI (no MySQL driver is installed)."""

    seed = f"""
        CREATE TABLE docs (id INT PRIMARY KEY, title VARCHAR(100) NOT NULL,
            body MEDIUMTEXT NOT NULL);
        INSERT INTO docs SELECT seq, CONCAT('título ', seq),
            REPEAT(CONCAT('{_MARIADB_TEXT}', seq, '\\t\\n'), 40) FROM seq_1_to_300;
        CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB NOT NULL);
        INSERT INTO blobs SELECT seq, CONCAT(UNHEX(REPEAT(MD5(seq), 19)), UNHEX('00FF00'))
            FROM seq_1_to_50;
        CREATE TABLE numbers (id BIGINT AUTO_INCREMENT PRIMARY KEY, n DECIMAL(20, 5), at DATETIME);
        INSERT INTO numbers (n, at) SELECT seq * 1.5, '2024-01-01' + INTERVAL seq HOUR
            FROM seq_1_to_1000;
        CREATE VIEW doc_lengths AS SELECT id, CHAR_LENGTH(body) AS len FROM docs;
        CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
        CREATE TRIGGER numbers_default BEFORE INSERT ON numbers FOR EACH ROW
            SET NEW.n = COALESCE(NEW.n, -1);
    """
    compared: tuple[str, ...] = (
        *(q.replace("data FROM", "HEX(data) FROM") for q in _COMPARED),
        "SELECT twice(21)",
    )
    writer_setup = """
        CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(200));
        CREATE TABLE counter (n BIGINT);
        INSERT INTO counter VALUES (0);
        CREATE TABLE control (stop INT);
        INSERT INTO control VALUES (0);
        CREATE TABLE bulk AS SELECT seq AS id, MD5(seq) AS data FROM seq_1_to_50000;
    """

    def run(self, db: str, script: str) -> None:
        subprocess.run([*MARIADB_ARGS, db], input=script.encode(), check=True)

    def rows(self, db: str, query: str) -> list[Row]:
        argv = [*MARIADB_ARGS, "--batch", "--skip-column-names", db, f"--execute={query}"]
        done = subprocess.run(argv, capture_output=True, check=True)
        lines = done.stdout.decode().splitlines()
        return [tuple(line.split("\t")) for line in lines]

    def writer(self, db: str) -> Callable[[], None]:
        loop = (
            "DELIMITER //\nBEGIN NOT ATOMIC WHILE (SELECT stop FROM control) = 0 DO"
            " START TRANSACTION; INSERT INTO items (pad) VALUES (MD5(RAND()));"
            " UPDATE counter SET n = n + 1; COMMIT; END WHILE; END//\n"
        )
        proc = subprocess.Popen([*MARIADB_ARGS, db], stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(loop.encode())
        proc.stdin.close()

        def halt() -> None:
            self.run(db, "UPDATE control SET stop = 1")
            assert proc.wait(10) == 0

        return halt


def _plain(value: object) -> object:
    """bytea arrives as memoryview; bytes compare (and print) by content."""
    return bytes(value) if isinstance(value, memoryview) else value
