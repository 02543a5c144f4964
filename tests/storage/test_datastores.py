"""Database instances' datastores against the real local PostgreSQL and MariaDB, and
SQLite under tmp_path: create, dump, restore, errors, secrets and configuration."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from storage.sources.databases import (
    DatabaseExists,
    DatabaseNotFound,
    Datastore,
    DatastoreError,
    DumpFailed,
    MariadbDatastore,
    RestoreFailed,
    ServerConfig,
    ServerUnavailable,
    SqliteDatastore,
    canonical_type,
    configured_datastores,
    open_datastore,
)
from tests.storage.datastore_clients import (
    CONSISTENCY,
    COUNTER,
    MARIADB_ARGS,
    MariadbClient,
    PostgresqlClient,
    SqlClient,
    SqliteClient,
)

PG = ServerConfig("postgresql", "127.0.0.1", 5432, "postgres")
MARIADB = ServerConfig("mariadb", "127.0.0.1", 3306, "root")
FAKE_PASSWORD = "Fake-Pa55word-q7x"


def unique_name(prefix: str = "sh") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass
class Case:
    """One datastore under test, the SQL client to check it, and the names to drop."""

    store: Datastore
    sql: SqlClient
    created: list[str] = field(default_factory=list)

    def new_database(self) -> str:
        name = unique_name()
        self.created.append(name)
        self.store.create_database(name)
        return name

    def seeded(self, script: str) -> str:
        name = self.new_database()
        self.sql.run(name, script)
        return name

    def dump_bytes(self, name: str) -> bytes:
        with self.store.dump(name) as stream:
            return stream.read()


def make_case(kind: str, directory: Path) -> Case:
    if kind == "sqlite":
        return Case(SqliteDatastore(directory), SqliteClient(directory))
    if kind == "postgresql":
        return Case(open_datastore(PG), PostgresqlClient())
    return Case(open_datastore(MARIADB), MariadbClient())


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "mariadb"]
)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """A datastore of each type; every database it created is dropped afterwards."""
    made = make_case(request.param, tmp_path / "sqlite")
    yield made
    for name in made.created:
        made.store.drop_database(name)


def unreachable_stores() -> list[Datastore]:
    """Servers on port 1 (nothing listens), configured with a fake password."""
    return [
        open_datastore(ServerConfig("postgresql", "127.0.0.1", 1, "postgres", FAKE_PASSWORD)),
        open_datastore(ServerConfig("mysql", "127.0.0.1", 1, "root", FAKE_PASSWORD)),
    ]


def assert_no_password(*things: object) -> None:
    for thing in things:
        for shown in (str(thing), repr(thing)):
            assert FAKE_PASSWORD not in shown


# --- round trip -------------------------------------------------------------------------


def test_dump_restores_identical_query_results(case: Case) -> None:
    source = case.seeded(case.sql.seed)
    target = case.new_database()
    with case.store.dump(source) as stream:
        # Streamed in chunks, as the backup pipeline reads it.
        case.store.restore(target, iter(lambda: stream.read(64 * 1024), b""))
    for query in case.sql.compared:
        expected = case.sql.rows(source, query)
        assert expected, query
        assert case.sql.rows(target, query) == expected, query
    assert case.sql.rows(target, "SELECT COUNT(*) FROM docs")[0][0] in (300, "300")


def test_restored_mariadb_keeps_routines_and_triggers(tmp_path: Path) -> None:
    case = make_case("mariadb", tmp_path)
    try:
        source = case.seeded(case.sql.seed)
        target = case.new_database()
        case.store.restore(target, [case.dump_bytes(source)])
        case.sql.run(target, "INSERT INTO numbers (n, at) VALUES (NULL, NOW())")
        assert case.sql.rows(target, "SELECT twice(4), MIN(n) FROM numbers") == [("8", "-1.00000")]
    finally:
        for name in case.created:
            case.store.drop_database(name)


def test_dump_while_a_writer_commits_restores_one_snapshot(case: Case) -> None:
    source = case.seeded(case.sql.writer_setup)
    halt = case.sql.writer(source)
    try:
        before = _wait_for_writes(case.sql, source)
        dumped = case.dump_bytes(source)
        after = int(case.sql.rows(source, COUNTER)[0][0])
    finally:
        halt()
    target = case.new_database()
    case.store.restore(target, [dumped])
    counter, items, last_id = (int(v) for v in case.sql.rows(target, CONSISTENCY)[0])
    assert counter == items == last_id  # each transaction whole, none missing
    assert before <= counter <= after and before < after  # the writer ran during the dump


def _wait_for_writes(sql: SqlClient, db: str, least: int = 20) -> int:
    deadline = time.monotonic() + 10
    while (count := int(sql.rows(db, COUNTER)[0][0])) < least:
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.02)
    return int(count)


# --- lifecycle ----------------------------------------------------------------------------


def test_create_reports_an_existing_database(case: Case) -> None:
    name = case.new_database()
    assert case.store.exists(name)
    with pytest.raises(DatabaseExists) as raised:
        case.store.create_database(name)
    assert name in raised.value.reason


def test_drop_is_idempotent(case: Case) -> None:
    name = case.new_database()
    case.store.drop_database(name)
    case.store.drop_database(name)
    case.store.drop_database(unique_name("never"))
    assert not case.store.exists(name)


def test_used_bytes_counts_the_data_and_refuses_a_missing_database(case: Case) -> None:
    name = case.seeded(case.sql.seed)
    assert case.store.used_bytes(name) > 100_000
    with pytest.raises(DatabaseNotFound):
        case.store.used_bytes(unique_name("never"))


def test_version_and_endpoint(case: Case, tmp_path: Path) -> None:
    version = case.store.version()
    host, port = case.store.endpoint()
    if case.store.type == "sqlite":
        assert version == sqlite3.sqlite_version
        assert (host, port) == (str(tmp_path / "sqlite"), None)
    else:
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", version), version
        assert host == "127.0.0.1" and port in (5432, 3306)


# --- failures -----------------------------------------------------------------------------


def test_dump_of_a_missing_database_fails_with_a_reason(case: Case) -> None:
    missing = unique_name("never")
    with pytest.raises(DumpFailed) as raised, case.store.dump(missing) as stream:
        stream.read()  # everything read: the failure is still raised on exit
    assert missing in raised.value.reason
    assert not case.store.exists(missing)


def test_a_failed_dump_raises_at_its_end_before_the_consumer_sees_eof(case: Case) -> None:
    """A consumer that commits at EOF (a backup's manifest) never commits a failed dump
    (SQLite's fails before it yields a stream at all)."""
    missing = unique_name("never")
    seen_eof = False
    with pytest.raises(DumpFailed), case.store.dump(missing) as stream:
        while stream.read(65536):
            pass
        seen_eof = True
    assert not seen_eof


def test_an_error_in_the_consumer_propagates_and_stops_the_dump(
    case: Case, spawned: list[Spawned]
) -> None:
    name = case.seeded(case.sql.seed)
    with pytest.raises(RuntimeError, match="consumer"), case.store.dump(name) as stream:
        assert stream.read(100)
        raise RuntimeError("consumer gave up")
    dumps = [run.proc for run in spawned if run.argv[0].endswith("dump")]
    assert len(dumps) == (0 if case.store.type == "sqlite" else 1)
    assert all(proc.poll() is not None for proc in dumps)  # stopped and reaped
    if isinstance(case.store, SqliteDatastore):
        assert not list(case.store.directory.glob(".*"))  # the scratch copy is gone


def test_a_dump_left_before_its_end_fails(case: Case) -> None:
    name = case.seeded(case.sql.seed)
    with pytest.raises(DumpFailed, match="before its end"), case.store.dump(name) as stream:
        assert stream.read(100)


def test_missing_tools_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    pg, mariadb = open_datastore(PG), open_datastore(MARIADB)
    with pytest.raises(DumpFailed, match="cannot run pg_dump"):
        _read_all(pg, "test")
    with pytest.raises(RestoreFailed, match="cannot run pg_restore"):
        pg.restore("test", [b""])
    with pytest.raises(DatastoreError, match="cannot run mariadb"):
        mariadb.version()


def test_restore_of_garbage_fails_with_a_reason(case: Case) -> None:
    name = case.seeded(case.sql.seed)
    with pytest.raises(RestoreFailed) as raised:
        case.store.restore(name, [b"this is not a dump\n"])
    assert raised.value.reason
    assert case.sql.rows(name, "SELECT COUNT(*) FROM docs")[0][0] in (300, "300")


def test_sqlite_restore_needs_an_existing_database(tmp_path: Path) -> None:
    store = SqliteDatastore(tmp_path)
    with pytest.raises(DatabaseNotFound):
        store.restore("missing", [b""])
    assert not store.exists("missing")


@pytest.mark.postgres
def test_unreachable_servers_fail_fast_without_showing_the_password(tmp_path: Path) -> None:
    pg_dump = make_case("postgresql", tmp_path).dump_bytes("test")
    started = time.monotonic()
    for store in unreachable_stores():
        dump = pg_dump if store.type == "postgresql" else b"SELECT 1;\n"
        for call in every_operation(store, "x", dump):
            with pytest.raises(ServerUnavailable) as raised:
                call()
            error = raised.value
            assert error.reason.startswith(f"{store.type} 127.0.0.1:1: "), error.reason
            assert_no_password(error, error.reason, error.args)
        assert_no_password(store, store.endpoint())
    assert time.monotonic() - started < 10


def every_operation(store: Datastore, name: str, dump: bytes) -> list[Callable[[], object]]:
    """Every protocol call naming ``name`` (version too), ready to run."""
    return [
        store.version,
        partial(store.exists, name),
        partial(store.create_database, name),
        partial(store.drop_database, name),
        partial(store.used_bytes, name),
        partial(store.restore, name, [dump]),
        partial(_read_all, store, name),
    ]


def _read_all(store: Datastore, name: str) -> bytes:
    with store.dump(name) as stream:
        return stream.read()


def test_server_unavailable_is_retryable() -> None:
    from storage.errors import is_transient

    assert is_transient(ServerUnavailable("down"))
    assert not is_transient(DumpFailed("broken"))


BAD_NAMES = ["", "1abc", "a-b", "a b", "a;DROP", 'a"b', "a`b", "a'b", "../x", "x" * 64, "ok\n", "é"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_before_anything_runs(name: str, tmp_path: Path) -> None:
    # Unreachable servers: had anything run, ServerUnavailable would be raised instead.
    for store in [*unreachable_stores(), SqliteDatastore(tmp_path / "absent")]:
        for call in every_operation(store, name, b"")[1:]:
            with pytest.raises(ValueError, match="invalid database name"):
                call()
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("postgresql", "template1"),
        ("postgresql", "postgres"),
        ("mariadb", "mysql"),
        ("mariadb", "SYS"),
    ],
)
def test_system_databases_are_refused(kind: str, name: str) -> None:
    store = next(s for s in unreachable_stores() if s.type == kind)
    with pytest.raises(ValueError, match="reserved"):
        store.drop_database(name)


# --- credentials --------------------------------------------------------------------------


@dataclass
class Spawned:
    argv: list[str]
    env: dict[str, str]
    option_files: dict[str, tuple[int, str]]
    proc: subprocess.Popen[bytes]


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[Spawned]:
    """Every tool the drivers start: argv, environment, option files (mode, text)."""
    seen: list[Spawned] = []
    real = subprocess.Popen

    def recording(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        files = {}
        for arg in argv:
            if arg.startswith("--defaults-extra-file="):
                path = Path(arg.split("=", 1)[1])
                files[str(path)] = (path.stat().st_mode & 0o777, path.read_text())
        proc = real(argv, *args, **kwargs)
        seen.append(Spawned(list(argv), dict(kwargs.get("env") or {}), files, proc))
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording)
    return seen


TRICKY_PASSWORD = "p\"a\\ss #w;rd' =x"


@pytest.fixture
def mariadb_user() -> Iterator[ServerConfig]:
    """A MariaDB user with a password full of option-file specials, limited to sh_pw_*."""
    user = unique_name("shuser")
    literal = TRICKY_PASSWORD.replace("\\", "\\\\").replace("'", "''")
    setup = (
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{literal}';"
        f" GRANT ALL PRIVILEGES ON `sh\\_pw\\_%`.* TO '{user}'@'%';"
    )
    subprocess.run([*MARIADB_ARGS, f"--execute={setup}"], check=True)
    yield ServerConfig("mariadb", "127.0.0.1", 3306, user, TRICKY_PASSWORD)
    subprocess.run([*MARIADB_ARGS, f"--execute=DROP USER '{user}'@'%'"], check=True)


def test_mariadb_password_travels_in_a_private_option_file(
    mariadb_user: ServerConfig, spawned: list[Spawned]
) -> None:
    store = open_datastore(mariadb_user)
    name = unique_name("sh_pw")
    try:
        store.create_database(name)
        assert store.version()
        store.restore(name, [b"CREATE TABLE t (x INT); INSERT INTO t VALUES (7);"])
        with store.dump(name) as stream:
            assert b"INSERT INTO `t` VALUES" in stream.read()
    finally:
        store.drop_database(name)
    assert spawned
    for run in spawned:
        assert not any(TRICKY_PASSWORD in arg for arg in run.argv)
        assert TRICKY_PASSWORD not in run.env.values()
        ((mode, text),) = run.option_files.values()
        assert mode == 0o600 and "password=" in text
        assert not Path(next(iter(run.option_files))).exists()  # removed afterwards


def test_wrong_mariadb_password_is_an_error_without_the_password(
    mariadb_user: ServerConfig,
) -> None:
    wrong = ServerConfig("mariadb", "127.0.0.1", 3306, mariadb_user.user, FAKE_PASSWORD)
    with pytest.raises(DatastoreError) as raised:
        open_datastore(wrong).version()
    assert not isinstance(raised.value, ServerUnavailable)
    assert "Access denied" in raised.value.reason
    assert_no_password(raised.value, raised.value.reason)


@pytest.mark.postgres
def test_postgresql_password_travels_in_the_environment(spawned: list[Spawned]) -> None:
    # The local server trusts 127.0.0.1, so any password is accepted and ignored.
    store = open_datastore(ServerConfig("postgresql", "127.0.0.1", 5432, "postgres", FAKE_PASSWORD))
    name = unique_name()
    try:
        store.create_database(name)
        with store.dump(name) as stream:
            store.restore(name, [stream.read()])
    finally:
        store.drop_database(name)
    assert [run.argv[0] for run in spawned] == ["pg_dump", "pg_restore"]
    for run in spawned:
        assert not any(FAKE_PASSWORD in arg for arg in run.argv)
        assert run.env["PGPASSWORD"] == FAKE_PASSWORD


# --- configuration ------------------------------------------------------------------------


def test_server_config_never_shows_the_password() -> None:
    config = ServerConfig("postgresql", "db.example", 5432, "admin", FAKE_PASSWORD)
    assert_no_password(config, open_datastore(config))
    assert config.password == FAKE_PASSWORD


def test_only_sqlite_without_settings(tmp_path: Path) -> None:
    stores = configured_datastores({}, tmp_path)
    assert list(stores) == ["sqlite"]
    assert stores["sqlite"].endpoint() == (str(tmp_path), None)


@pytest.mark.postgres
def test_urls_configure_real_servers(tmp_path: Path) -> None:
    env = {
        "SAFEHOLD_POSTGRESQL_URL": f"postgresql://postgres:{FAKE_PASSWORD}@127.0.0.1:5432",
        "SAFEHOLD_MARIADB_URL": "mysql://root@127.0.0.1:3306",
    }
    stores = configured_datastores(env, tmp_path)
    assert sorted(stores) == ["mariadb", "postgresql", "sqlite"]
    assert stores["mariadb"].type == "mariadb" and isinstance(stores["mariadb"], MariadbDatastore)
    assert re.match(r"\d+\.\d+", stores["postgresql"].version())
    assert re.match(r"10\.", stores["mariadb"].version())
    assert_no_password(*stores.values())


def test_mysql_is_an_alias_of_mariadb(tmp_path: Path) -> None:
    assert canonical_type("mysql") == "mariadb"
    assert ServerConfig("mysql", "127.0.0.1").type == "mariadb"
    assert ServerConfig("mysql", "127.0.0.1").port == 3306
    config_file = tmp_path / "datastores.json"
    config_file.write_text(
        json.dumps({"mysql": {"host": "127.0.0.1", "port": 3306, "user": "root"}})
    )
    stores = configured_datastores({"SAFEHOLD_DATASTORES_FILE": str(config_file)}, tmp_path)
    mariadb = stores["mariadb"]
    name = unique_name()
    mariadb.create_database(name)
    try:
        assert mariadb.exists(name)
    finally:
        mariadb.drop_database(name)
    with pytest.raises(ValueError, match="unknown datastore type"):
        canonical_type("oracle")


def test_file_configures_servers(tmp_path: Path) -> None:
    entry = {"host": "db.example", "port": 6543, "user": "admin", "password": FAKE_PASSWORD}
    config_file = tmp_path / "datastores.json"
    config_file.write_text(json.dumps({"postgresql": entry, "mariadb": {"host": "m.example"}}))
    stores = configured_datastores({"SAFEHOLD_DATASTORES_FILE": str(config_file)}, tmp_path)
    assert stores["postgresql"].endpoint() == ("db.example", 6543)
    assert stores["mariadb"].endpoint() == ("m.example", 3306)
    assert_no_password(*stores.values())


BAD_URLS = [
    f"postgresql://postgres:{FAKE_PASSWORD}@127.0.0.1:notaport",
    f"postgresql://postgres:{FAKE_PASSWORD}@127.0.0.1:99999",
    f"http://postgres:{FAKE_PASSWORD}@127.0.0.1",
    f"postgresql://postgres:{FAKE_PASSWORD}@127.0.0.1/db",
    f"postgresql://postgres:{FAKE_PASSWORD}@127.0.0.1?sslmode=off",
    f"postgresql://postgres:{FAKE_PASSWORD}@",
    f"mysql://root:{FAKE_PASSWORD}@127.0.0.1",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_urls_name_the_setting_not_the_password(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SAFEHOLD_POSTGRESQL_URL") as raised:
        configured_datastores({"SAFEHOLD_POSTGRESQL_URL": url}, tmp_path)
    assert_no_password(raised.value)


BAD_FILES: list[object] = [
    {"postgresql": {"host": "h", "password": FAKE_PASSWORD, "passwd": FAKE_PASSWORD}},
    {"oracle": {"host": "h", "password": FAKE_PASSWORD}},
    {"sqlite": {"directory": "/tmp"}},
    {"mysql": {"host": "h"}, "mariadb": {"host": "h"}},
    {"postgresql": {"host": "h", "port": "5432", "password": FAKE_PASSWORD}},
    {"postgresql": {"host": "h", "port": True}},
    {"postgresql": {"password": FAKE_PASSWORD}},
    {"postgresql": FAKE_PASSWORD},
    [FAKE_PASSWORD],
]


@pytest.mark.parametrize("document", BAD_FILES)
def test_malformed_files_name_the_setting_not_the_password(
    document: object, tmp_path: Path
) -> None:
    config_file = tmp_path / "datastores.json"
    config_file.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="SAFEHOLD_DATASTORES_FILE") as raised:
        configured_datastores({"SAFEHOLD_DATASTORES_FILE": str(config_file)}, tmp_path)
    assert_no_password(raised.value)


def test_unreadable_or_invalid_files_name_the_setting(tmp_path: Path) -> None:
    invalid = tmp_path / "invalid.json"
    invalid.write_text(f'{{"postgresql": {{"password": "{FAKE_PASSWORD}"')
    for path in (invalid, tmp_path / "missing.json"):
        with pytest.raises(ValueError, match="SAFEHOLD_DATASTORES_FILE") as raised:
            configured_datastores({"SAFEHOLD_DATASTORES_FILE": str(path)}, tmp_path)
        assert_no_password(raised.value)


def test_a_type_configured_twice_is_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "datastores.json"
    config_file.write_text(json.dumps({"mysql": {"host": "h"}}))
    env = {"SAFEHOLD_DATASTORES_FILE": str(config_file), "SAFEHOLD_MARIADB_URL": "mariadb://h"}
    with pytest.raises(ValueError, match="configured twice"):
        configured_datastores(env, tmp_path)


def test_tool_errors_are_scrubbed() -> None:
    from storage.sources.databases.errors import reason_from

    text = f"x\nfailed for postgresql://u:{FAKE_PASSWORD}@h password={FAKE_PASSWORD}x\n"
    reason = reason_from("tool", text, [])
    assert FAKE_PASSWORD not in reason and reason.startswith("tool: x / failed")
    long = "y" * 1000 + FAKE_PASSWORD
    assert FAKE_PASSWORD[-5:] not in reason_from("tool", long, [FAKE_PASSWORD])
