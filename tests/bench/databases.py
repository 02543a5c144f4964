"""Database backups: Safehold's Trove API beside pg_dump -Fc and restic on one PostgreSQL database.

One database, made through Safehold (a Trove instance, then filled directly): pgbench
tables (about 70 % of SAFEHOLD_BENCH_DB_MIB) and a text-heavy ``articles`` table (the rest:
seeded prose from a word list). On it, in this order:

  full         Safehold (troveclient ``backups.create`` until COMPLETED), ``pg_dump -Fc`` to a
               file, ``pg_dump -Fc | restic backup --stdin`` and the same with ``-Z0``, each
               restic variant into a fresh repository;
  restore      each of them into a new database (Safehold: a new instance from the backup),
               verified against the source: row counts of every table and two checksums;
  change       2 % new rows appended (accounts, history, articles), 0.5 % of rows updated;
  incremental  Safehold ``incremental=True``, a new ``pg_dump -Fc`` file and both restic
               variants again, with the bytes each added to its store; Safehold's
               incremental is restored and verified too.

Safehold is timed as a user sees it (API call until the status, polled every 0.2 s), the
others by wall clock; the page cache is dropped before every timed step. Every database
the section made is dropped at the end, also after a failure.

Environment: SAFEHOLD_BENCH_DB_MIB (target database size, default 1024),
SAFEHOLD_BENCH_POSTGRESQL_URL (default postgresql://postgres@127.0.0.1:5432),
SAFEHOLD_BENCH_SKIP_DATABASES=1 (leave the section out of a full run).
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg2  # type: ignore[import-untyped]

from tests.bench import data, peers, report, sections, shares

T = TypeVar("T")

PROJECT = "bench0000000000000000000000000003"
POLL = 0.2
TIMEOUT = 3 * 3600.0
GIB = 1 << 30
MB = 1e6
SEED = 20240613
CHANGE_SEED = 20240614
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432"
RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "databases.json"

PGBENCH_SHARE = 0.7
# pg_database_size per pgbench scale unit and per articles row (indexes included), measured
# on PostgreSQL 15; they only aim the generated size, which is measured and reported.
MIB_PER_SCALE = 15.0
ARTICLE_BYTES = 1400
APPEND_FRACTION = 0.02
UPDATE_FRACTION = 0.005
COPY_BATCH = 5000
# Rows stay under PostgreSQL's ~2 KB TOAST threshold, so the table's size is its text.
BODY_MIN, BODY_MAX = 300, 1500
DUMP_NAME = "bench.dump"
# As Safehold's own restore runs pg_restore, so that the restore times compare.
RESTORE_FLAGS = ("--no-owner", "--single-transaction")
RESTIC_VARIANTS = {"restic_fc": (), "restic_z0": ("--compress=0",)}
TABLES = ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "articles")
CHECKSUMS = {
    "articles": "SELECT md5(string_agg(md5(a::text), '' ORDER BY a.id)) FROM articles a",
    "pgbench_accounts": "SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid)) "
    "FROM pgbench_accounts",
}
LABELS = {
    "safehold": "safehold (Trove API)",
    "pg_dump": "pg_dump -Fc > file",
    "restic_fc": "pg_dump -Fc | restic",
    "restic_z0": "pg_dump -Fc -Z0 | restic",
    "pg_restore": "pg_restore < file",
    "safehold_incremental": "safehold incremental",
}
RESTORE_LABELS = {
    "safehold": "safehold full (new instance)",
    "pg_restore": "pg_restore < -Fc file",
    "restic_fc": "restic dump (-Fc) | pg_restore",
    "restic_z0": "restic dump (-Z0) | pg_restore",
    "safehold_incremental": "safehold incremental (new inst.)",
}

NOTES = [
    "database section: one PostgreSQL database, pgbench tables plus a seeded text table; "
    "Safehold is timed from the troveclient call until COMPLETED (backup) or ACTIVE "
    "(restore into a new instance), orchestration included; the others by wall clock",
    "Safehold streams pg_dump -Fc -Z0 into 64 KiB-average content-defined chunks, zstd each; "
    "restic: repo v2, compression auto, encrypted, ~1 MiB chunks, fed by pg_dump on stdin",
    "stored MB = bytes the step added under Safehold's backups/databases/<instance_id>/, to "
    "the restic repository, or the pg_dump file's size (10^6 bytes); MB/s = "
    "pg_database_size / seconds",
    "restores run pg_restore --no-owner --single-transaction (as Safehold does) into a new "
    "database, created inside the timed step; each is verified (row counts of every table, "
    "md5 of articles and of pgbench_accounts in key order)",
    "the change updates rows chosen uniformly at random (seeded): an updated row leaves its "
    "place in the dump for the table's end, so the changes are scattered over the whole dump",
]

WORDS = tuple(
    """the of and to in a is that for it as was with be by on not he this are or his from at
    which but have an they you were her she there been one all we their has would when if so
    no will more can out up about who them some could into time only new other than its then
    two over also what year may after like people first most made such now back use these
    years very where just should three state work well way being each even because world
    those many between how through own life same under both right public high long part
    during never country city market water report council season system company police
    government school family policy night project plan river history music energy health
    village research building program garden election station island summer winter
    morning evening result change growth price value number level power service order
    question answer decision article reader editor team player match coach street
    bridge hospital museum library student teacher doctor farmer engineer artist writer""".split()
)
FIRST_NAMES = tuple("Ada Ben Chloe Dev Elena Farid Grace Hugo Ines Jonas Kira Liam Maya".split())
LAST_NAMES = tuple("Andersen Brooks Costa Dubois Evans Fischer Garcia Horvat Ito Jensen".split())
TOPICS = tuple("politics science sport culture travel economy health local tech food".split())
ENDINGS = (".", ".", ".", ".", "?", "!")
PARAGRAPH = "\\n\\n"  # a blank line, escaped for COPY's text format
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
ARTICLES_DDL = (
    "CREATE TABLE articles (id bigint NOT NULL, title text NOT NULL, author text NOT NULL, "
    "tags text NOT NULL, body text NOT NULL, views integer NOT NULL, "
    "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)"
)
COPY_ARTICLES = (
    "COPY articles (id, title, author, tags, body, views, created_at, updated_at) FROM STDIN"
)


class BenchError(RuntimeError):
    """A step of the database section failed (the message says which and why)."""


# --- the PostgreSQL server ---------------------------------------------------------------


class Server:
    """The PostgreSQL server every database of the section lives on."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.user = parts.username or "postgres"
        self.password = parts.password or ""

    def args(self) -> list[str]:
        """Connection options for pg_dump, pg_restore and pgbench."""
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]

    def env(self) -> dict[str, str]:
        """The tools' environment: the caller's PG* variables must not redirect them."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    @contextlib.contextmanager
    def connection(self, dbname: str) -> Iterator[Any]:
        """An autocommit connection (VACUUM and CREATE DATABASE need one), closed after."""
        extra = {"password": self.password} if self.password else {}
        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname, **extra
        )
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, dbname: str, *statements: str | tuple[str, Any]) -> None:
        """Run statements in order on one connection (one session: setseed carries over)."""
        with self.connection(dbname) as conn, conn.cursor() as cur:
            for statement in statements:
                if isinstance(statement, tuple):
                    cur.execute(*statement)
                else:
                    cur.execute(statement)

    def scalar(self, dbname: str, sql: str) -> Any:
        """The first column of the first row of ``sql``."""
        with self.connection(dbname) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]

    def copy(self, dbname: str, sql: str, batches: Iterator[str]) -> None:
        """COPY ... FROM STDIN, one batch of text-format lines at a time."""
        with self.connection(dbname) as conn, conn.cursor() as cur:
            for batch in batches:
                cur.copy_expert(sql, io.StringIO(batch))

    def size(self, dbname: str) -> int:
        """pg_database_size of ``dbname``."""
        return int(self.scalar(dbname, "SELECT pg_database_size(current_database())"))

    def create_database(self, name: str) -> None:
        """An empty database (the restore target of a peer)."""
        self.execute("postgres", f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, whoever is still connected."""
        self.execute("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tail(text: bytes | str, lines: int = 6) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " | ".join(text.strip().splitlines()[-lines:])


def _cmd(argv: Sequence[str], env: dict[str, str]) -> None:
    """Run one tool; BenchError with its stderr's tail when it fails."""
    proc = subprocess.run(list(argv), env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:2])} exited {proc.returncode}: {_tail(proc.stderr)}")


def _pipe(producer: Sequence[str], consumer: Sequence[str], env: dict[str, str]) -> None:
    """``producer | consumer``; BenchError naming whichever side failed."""
    with tempfile.TemporaryFile() as first_err, tempfile.TemporaryFile() as second_err:
        first = subprocess.Popen(list(producer), stdout=subprocess.PIPE, stderr=first_err, env=env)
        assert first.stdout is not None
        try:
            second = subprocess.Popen(
                list(consumer),
                stdin=first.stdout,
                stdout=subprocess.DEVNULL,
                stderr=second_err,
                env=env,
            )
        except OSError:
            first.kill()
            first.wait()
            raise
        finally:
            first.stdout.close()  # ours: the producer must see the consumer's end only
        codes = second.wait(), first.wait()
        for argv, code, err in ((consumer, codes[0], second_err), (producer, codes[1], first_err)):
            if code != 0:
                err.seek(0)
                raise BenchError(f"{' '.join(argv[:2])} exited {code}: {_tail(err.read())}")


def _timed(fn: Callable[[], T]) -> tuple[T, float, bool]:
    """Drop the page cache, run ``fn``; (its result, seconds, whether the drop worked)."""
    cold = data.drop_caches()
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start, cold


def _growth(root: Path, before: tuple[int, int]) -> dict[str, int]:
    """Files and bytes added under ``root`` since ``before`` (shares.usage)."""
    files, total = shares.usage(root)
    return {"objects": files - before[0], "stored_bytes": total - before[1], "repo_bytes": total}


# --- the generated database --------------------------------------------------------------


class Articles:
    """Seeded article rows in COPY text format: titles, authors, tags and prose bodies."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # Zipf-weighted, as word frequencies in real text are.
        self.cum = list(itertools.accumulate(1 / (rank + 5) for rank in range(len(WORDS))))

    def _words(self, low: int, high: int) -> list[str]:
        return self.rng.choices(WORDS, cum_weights=self.cum, k=self.rng.randint(low, high))

    def sentence(self) -> str:
        """One capitalised sentence of 5-18 words."""
        words = self._words(5, 18)
        return " ".join([words[0].capitalize(), *words[1:]]) + self.rng.choice(ENDINGS)

    def body(self) -> str:
        """Sentences up to a seeded length, a paragraph break now and then."""
        target = self.rng.randint(BODY_MIN, BODY_MAX)
        parts = [self.sentence()]
        size = len(parts[0])
        while size < target:
            parts.append(PARAGRAPH if self.rng.random() < 0.2 else " ")
            parts.append(self.sentence())
            size += len(parts[-1]) + 1
        return "".join(parts)

    def line(self, article_id: int) -> str:
        """The COPY line of article ``article_id``."""
        title = " ".join(word.capitalize() for word in self._words(3, 9))
        author = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
        tags = ",".join(self.rng.sample(TOPICS, self.rng.randint(1, 3)))
        body = self.body()
        created = (EPOCH + timedelta(seconds=article_id * 90 + self.rng.randrange(90))).isoformat()
        views = int(self.rng.paretovariate(1.5) * 20)
        return f"{article_id}\t{title}\t{author}\t{tags}\t{body}\t{views}\t{created}\t{created}\n"

    def batches(self, first: int, count: int) -> Iterator[str]:
        """Lines of ids ``first`` .. ``first + count - 1``, COPY_BATCH at a time."""
        for start in range(first, first + count, COPY_BATCH):
            stop = min(start + COPY_BATCH, first + count)
            yield "".join(self.line(i) for i in range(start, stop))


def plan(target_mib: int) -> dict[str, int]:
    """pgbench scale and articles rows for a database of about ``target_mib`` MiB."""
    scale = max(1, round(target_mib * PGBENCH_SHARE / MIB_PER_SCALE))
    articles = max(1000, int(target_mib * (1 - PGBENCH_SHARE) * data.MIB / ARTICLE_BYTES))
    return {"target_mib": target_mib, "pgbench_scale": scale, "articles_rows": articles}


def generate(server: Server, dbname: str, target_mib: int) -> dict[str, Any]:
    """Fill the (empty) database: pgbench -i, then the articles table and its indexes."""
    sizes = plan(target_mib)
    start = time.perf_counter()
    init = ["pgbench", "-i", "-q", "-s", str(sizes["pgbench_scale"]), *server.args(), dbname]
    _cmd(init, server.env())
    pgbench_s = time.perf_counter() - start
    server.execute(dbname, ARTICLES_DDL)
    server.copy(dbname, COPY_ARTICLES, Articles(SEED).batches(1, sizes["articles_rows"]))
    server.execute(
        dbname,
        "ALTER TABLE articles ADD PRIMARY KEY (id)",
        "CREATE INDEX articles_created_at ON articles (created_at)",
        "VACUUM ANALYZE articles",
        "CHECKPOINT",  # the timed steps should not pay for the load's dirty pages
    )
    return {
        **sizes,
        "pgbench_seconds": pgbench_s,
        "generate_seconds": time.perf_counter() - start,
        "size_bytes": server.size(dbname),
        "server_version": server.scalar(dbname, "SHOW server_version"),
    }


def change(server: Server, dbname: str, seed: int = CHANGE_SEED) -> dict[str, Any]:
    """Append 2 % new rows (accounts, history, articles) and update 0.5 % (accounts,
    articles), all seeded; what was done."""
    rng = random.Random(seed)
    accounts = int(server.scalar(dbname, "SELECT max(aid) FROM pgbench_accounts"))
    articles = int(server.scalar(dbname, "SELECT max(id) FROM articles"))
    scale = int(server.scalar(dbname, "SELECT count(*) FROM pgbench_branches"))
    counts = {
        "accounts_appended": math.ceil(accounts * APPEND_FRACTION),
        "history_appended": math.ceil(accounts * APPEND_FRACTION),
        "articles_appended": math.ceil(articles * APPEND_FRACTION),
        "accounts_updated": math.ceil(accounts * UPDATE_FRACTION),
        "articles_updated": math.ceil(articles * UPDATE_FRACTION),
    }
    start = time.perf_counter()
    _append_pgbench(server, dbname, rng, accounts, scale, counts)
    _update_pgbench(server, dbname, rng, accounts, counts["accounts_updated"])
    writer = Articles(seed)
    _update_articles(server, dbname, rng, writer, articles, counts["articles_updated"])
    batches = writer.batches(articles + 1, counts["articles_appended"])
    server.copy(dbname, COPY_ARTICLES, batches)
    server.execute(dbname, "CHECKPOINT")
    return {**counts, "seconds": time.perf_counter() - start}


def _append_pgbench(
    server: Server,
    dbname: str,
    rng: random.Random,
    accounts: int,
    scale: int,
    counts: dict[str, int],
) -> None:
    new = {"first": accounts + 1, "last": accounts + counts["accounts_appended"], "scale": scale}
    history = {
        "tellers": scale * 10,
        "scale": scale,
        "accounts": accounts,
        "count": counts["history_appended"],
    }
    server.execute(
        dbname,
        (
            "INSERT INTO pgbench_accounts (aid, bid, abalance, filler) "
            "SELECT g, 1 + g %% %(scale)s, 0, '' FROM generate_series(%(first)s, %(last)s) g",
            new,
        ),
        ("SELECT setseed(%s)", (rng.random(),)),  # history rows are seeded too
        (
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
            "SELECT 1 + floor(random() * %(tellers)s)::int, 1 + floor(random() * %(scale)s)::int,"
            " 1 + floor(random() * %(accounts)s)::int, floor(random() * 10001)::int - 5000,"
            " timestamp '2024-06-01' + g * interval '1 second' "
            "FROM generate_series(1, %(count)s) g",
            history,
        ),
    )


def _update_pgbench(
    server: Server, dbname: str, rng: random.Random, accounts: int, count: int
) -> None:
    ids = rng.sample(range(1, accounts + 1), count)
    deltas = [rng.randint(-5000, 5000) for _ in ids]
    sql = (
        "UPDATE pgbench_accounts a SET abalance = a.abalance + u.delta "
        "FROM unnest(%s::int[], %s::int[]) AS u(aid, delta) WHERE a.aid = u.aid"
    )
    server.execute(dbname, (sql, (ids, deltas)))


def _update_articles(
    server: Server, dbname: str, rng: random.Random, writer: Articles, articles: int, count: int
) -> None:
    ids = rng.sample(range(1, articles + 1), count)
    notes = [f"Update: {writer.sentence()}" for _ in ids]
    sql = (
        "UPDATE articles a SET body = a.body || ' ' || u.note, views = a.views + 1, "
        "updated_at = a.updated_at + interval '1 day' "
        "FROM unnest(%s::bigint[], %s::text[]) AS u(id, note) WHERE a.id = u.id"
    )
    server.execute(dbname, (sql, (ids, notes)))


def snapshot(server: Server, dbname: str) -> dict[str, Any]:
    """Row counts of every table and the checksums: what a restore must reproduce."""
    return {
        "rows": {t: int(server.scalar(dbname, f"SELECT count(*) FROM {t}")) for t in TABLES},
        "checksums": {t: server.scalar(dbname, sql) for t, sql in CHECKSUMS.items()},
    }


def verify(server: Server, dbname: str, expected: dict[str, Any]) -> dict[str, Any]:
    """Compare a restored database with the source's snapshot; what differs, if anything."""
    got = snapshot(server, dbname)
    result: dict[str, Any] = {
        "verified": got == expected,
        "restored_size_bytes": server.size(dbname),
    }
    if got != expected:
        result["got"] = got
    return result


# --- restic on dump streams --------------------------------------------------------------


class StreamRestic:
    """restic fed by pg_dump on stdin: one local v2 repository, restores with ``dump``."""

    def __init__(self, workdir: Path, label: str, server: Server) -> None:
        self.binary = peers.ensure_tool("restic", "restic")
        self.repo = workdir / f"db-{label}-repo"
        self.env = {
            **server.env(),
            "RESTIC_REPOSITORY": str(self.repo),
            "RESTIC_CACHE_DIR": str(workdir / f"db-{label}-cache"),
            "RESTIC_PASSWORD": peers.RESTIC_PASSWORD,
            "RESTIC_PROGRESS_FPS": "0.1",
        }
        init = [self.binary, "init", "--quiet"]
        if "--repository-version" in self._help("init"):
            init += ["--repository-version", "2"]  # compressed format, as in peers.py
        _cmd(init, self.env)

    def _help(self, command: str) -> str:
        argv = [self.binary, command, "--help"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.stdout + proc.stderr

    def version(self) -> str:
        """``restic version``'s line."""
        proc = subprocess.run([self.binary, "version"], capture_output=True, text=True)
        return proc.stdout.strip()

    def backup(self, dump: Sequence[str], tag: str) -> dict[str, Any]:
        """``dump | restic backup --stdin``; seconds and what the repository grew by."""
        argv = [self.binary, "backup", "--quiet", "--stdin", "--stdin-filename", DUMP_NAME]
        argv += ["--host", "bench", "--tag", tag]
        before = shares.usage(self.repo)
        _, seconds, cold = _timed(lambda: _pipe(dump, argv, self.env))
        return {"seconds": seconds, "cold_cache": cold, **_growth(self.repo, before)}

    def feed(self, tag: str, restore: Sequence[str]) -> None:
        """``restic dump`` of the newest snapshot tagged ``tag`` into ``restore``'s stdin."""
        argv = [self.binary, "dump", "--quiet", "--tag", tag, "latest", f"/{DUMP_NAME}"]
        _pipe(argv, restore, self.env)


# --- Safehold through python-troveclient -------------------------------------------------


class Trove:
    """python-troveclient against a running Safehold; remembers the instances it made."""

    def __init__(self, svc: Any) -> None:
        from keystoneauth1 import session, token_endpoint
        from troveclient.v1 import client

        auth = token_endpoint.Token(
            endpoint=f"{svc.trove_url}/v1.0/{PROJECT}", token=f"admin:{PROJECT}"
        )
        self.client = client.Client(session=session.Session(auth=auth))
        self.svc = svc
        self.store = Path(svc.data_dir) / "backups" / "databases"
        self.instances: list[str] = []

    def wait(self, get: Callable[[], Any], statuses: set[str]) -> Any:
        """Poll ``get`` every POLL s until its status is in ``statuses``."""
        start = time.perf_counter()
        while (obj := get()).status not in statuses:
            if time.perf_counter() - start > TIMEOUT:
                raise TimeoutError(f"{obj.id} stuck in {obj.status}")
            time.sleep(POLL)
        return obj

    def create_instance(
        self, name: str, database: str, size_gb: int, backup_id: str | None = None
    ) -> Any:
        """An ACTIVE PostgreSQL instance holding ``database`` (restored from ``backup_id``)."""
        extra = {"restorePoint": {"backupRef": backup_id}} if backup_id else {}
        made = self.client.instances.create(
            name,
            flavor_id="1",
            volume={"size": size_gb},
            datastore="postgresql",
            databases=[{"name": database}],
            **extra,
        )
        self.instances.append(made.id)
        instance = self.wait(lambda: self.client.instances.get(made.id), {"ACTIVE", "ERROR"})
        if instance.status != "ACTIVE":
            raise BenchError(f"instance {made.id} ended in ERROR: {getattr(instance, 'fault', '')}")
        return instance

    def backup(self, instance_id: str, name: str, incremental: bool) -> Any:
        """A COMPLETED backup of the instance."""
        made = self.client.backups.create(name, instance_id, incremental=incremental)
        done = self.wait(lambda: self.client.backups.get(made.id), {"COMPLETED", "FAILED"})
        if done.status != "COMPLETED":
            raise BenchError(f"backup {made.id} ended in {done.status}: {done.fail_reason}")
        return done

    def delete_instance(self, instance_id: str) -> None:
        """Delete through the API (the database is dropped by its flow run) and wait."""
        from troveclient import exceptions

        self.client.instances.delete(instance_id)
        start = time.perf_counter()
        while time.perf_counter() - start < 600:
            try:
                self.client.instances.get(instance_id)
            except exceptions.NotFound:
                self.instances.remove(instance_id)
                return
            time.sleep(POLL)
        raise TimeoutError(f"instance {instance_id} still there after delete")

    def delete_all(self) -> None:
        """Every instance still standing (a failure is printed: the caller drops directly)."""
        for instance_id in list(self.instances):
            try:
                self.delete_instance(instance_id)
            except Exception as exc:
                print(f"  could not delete instance {instance_id}: {exc}", flush=True)


# --- the section's steps -----------------------------------------------------------------


def _attempt(phase: str, steps: dict[str, Any], key: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one step into ``steps[key]``; a failure is recorded there and the next one runs."""
    print(f"    {phase} {key} ...", end="", flush=True)
    try:
        steps[key] = fn()
    except Exception as exc:
        print(" FAILED", flush=True)
        traceback.print_exc()
        steps[key] = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
        return
    print(f" {steps[key].get('seconds', 0.0):.1f} s", flush=True)


class Bench:
    """One pass of the section: its databases, its tools and what they measured."""

    def __init__(self, workdir: Path, server: Server, trove: Trove, out: dict[str, Any]) -> None:
        self.workdir, self.server, self.trove, self.out = workdir, server, trove, out
        self.base = f"bench_db_{secrets.token_hex(3)}"
        self.names: set[str] = out.setdefault("databases_made", set())
        self.expected: dict[str, dict[str, Any]] = {}
        self.dump = workdir / "db-pg_dump.dump"
        self.restics: dict[str, StreamRestic] = {}
        self.size_gb = 1
        self.source = ""
        # (phase, step, resource id) of Safehold's steps: Prefect is asked about their runs
        # at the end, since a run still shows Running when its resource is already settled.
        self.flows: list[tuple[str, str, str]] = []

    def name(self, suffix: str = "") -> str:
        """A database name of this run, remembered for the final drop."""
        name = f"{self.base}_{suffix}" if suffix else self.base
        self.names.add(name)
        return name

    def run(self, target_mib: int) -> None:
        """Generate, full backups, restores, change, incrementals: in that order."""
        self.prepare(target_mib)
        self.full()
        self.restores()
        self.incrementals()

    def prepare(self, target_mib: int) -> None:
        """The source instance through the API, filled directly."""
        self.size_gb = math.ceil(target_mib * 2 / 1024) + 1
        print(f"  creating instance and generating ~{target_mib} MiB ...", flush=True)
        instance = self.trove.create_instance("bench-source", self.name(), self.size_gb)
        self.source = instance.id
        self.out["database"] = generate(self.server, self.base, target_mib)
        self.out["database"].update(name=self.base, instance_id=self.source)
        self.expected["full"] = snapshot(self.server, self.base)
        self.out["database"]["rows"] = self.expected["full"]["rows"]
        db = self.out["database"]
        print(
            f"  database {db['size_bytes'] / MB:.1f} MB (target {target_mib} MiB), "
            f"generated in {db['generate_seconds']:.1f} s",
            flush=True,
        )

    def full(self) -> None:
        """The four full backups of the source."""
        steps = self.out["full"]
        _attempt("full", steps, "safehold", lambda: self.safehold_backup("full", False))
        _attempt("full", steps, "pg_dump", self.pg_dump_file)
        for label in RESTIC_VARIANTS:
            _attempt("full", steps, label, functools.partial(self.restic_backup, label, "full"))

    def restores(self) -> None:
        """Each full backup into a new database, verified."""
        steps = self.out["restore"]
        full = self.out["full"]
        _attempt("restore", steps, "safehold", lambda: self.safehold_restore(full, "full"))
        _attempt("restore", steps, "pg_restore", self.pg_restore_file)
        for label in RESTIC_VARIANTS:
            _attempt("restore", steps, label, functools.partial(self.restic_restore, label))

    def incrementals(self) -> None:
        """The change, the incremental of every tool, Safehold's incremental restored."""
        print("  changing the database (2 % appended, 0.5 % updated) ...", flush=True)
        self.out["change"] = change(self.server, self.base)
        self.out["database"]["size_after_change_bytes"] = self.server.size(self.base)
        self.expected["incremental"] = snapshot(self.server, self.base)
        steps = self.out["incremental"]
        _attempt("incr", steps, "safehold", lambda: self.safehold_backup("incremental", True))
        _attempt("incr", steps, "pg_dump", self.pg_dump_file)
        for label in RESTIC_VARIANTS:
            step = functools.partial(self.restic_backup, label, "incremental")
            _attempt("incr", steps, label, step)
        restore = functools.partial(self.safehold_restore, steps, "incremental")
        _attempt("restore", self.out["restore"], "safehold_incremental", restore)

    # Safehold

    def safehold_backup(self, label: str, incremental: bool) -> dict[str, Any]:
        """troveclient backups.create until COMPLETED; what it added to the store."""
        parent = self.out["full"].get("safehold", {}).get("id") if incremental else None
        if incremental and not parent:
            # Without a full backup the API would make another full one: nothing to compare.
            raise BenchError("no Safehold full backup to build on")
        store = self.trove.store / self.source
        before = shares.usage(store)
        backup, seconds, cold = _timed(
            lambda: self.trove.backup(self.source, f"bench-{label}", incremental)
        )
        self.flows.append((label, "safehold", backup.id))
        if backup.parent_id != parent:
            raise BenchError(f"backup {backup.id} has parent {backup.parent_id}, not {parent}")
        # Untimed: the next step needs the instance out of BACKUP.
        self.trove.wait(lambda: self.trove.client.instances.get(self.source), {"ACTIVE"})
        return {
            "seconds": seconds,
            "cold_cache": cold,
            **_growth(store, before),
            "id": backup.id,
            "parent_id": backup.parent_id,
            "dump_bytes": int((backup.size or 0) * GIB),
        }

    def safehold_restore(self, backups: dict[str, Any], point: str) -> dict[str, Any]:
        """A new instance from the backup (restorePoint) until ACTIVE, verified, deleted."""
        backup_id = backups.get("safehold", {}).get("id")
        if not backup_id:
            raise BenchError(f"no Safehold {point} backup to restore")
        database = self.name(f"sh_{point}")
        instance, seconds, cold = _timed(
            lambda: self.trove.create_instance(f"bench-{point}", database, self.size_gb, backup_id)
        )
        key = "safehold" if point == "full" else "safehold_incremental"
        self.flows.append(("restore", key, instance.id))
        try:
            check = verify(self.server, database, self.expected[point])
        finally:
            self.trove.delete_instance(instance.id)
        return {"seconds": seconds, "cold_cache": cold, **check}

    def collect_flow_runs(self) -> None:
        """Prefect's account of each Safehold step (queued, ran, tasks), into its result."""
        for phase, key, resource in self.flows:
            step = self.out[phase].get(key)
            if step is not None and "error" not in step:
                api = self.trove.svc.prefect_api
                step["flow_runs"] = shares.flow_runs(api, [resource], "create")

    # pg_dump -Fc to a file

    def pg_dump_file(self) -> dict[str, Any]:
        """pg_dump -Fc (default compression) into a file: seconds and its size."""
        self.dump.unlink(missing_ok=True)
        argv = ["pg_dump", "-Fc", *self.server.args(), "-f", str(self.dump), self.base]
        _, seconds, cold = _timed(lambda: _cmd(argv, self.server.env()))
        size = self.dump.stat().st_size
        return {"seconds": seconds, "cold_cache": cold, "stored_bytes": size}

    def pg_restore_file(self) -> dict[str, Any]:
        """pg_restore of the full backup's file into a new database."""
        if "error" in self.out["full"].get("pg_dump", {"error": ""}):
            raise BenchError("no pg_dump file to restore")
        argv = self._pg_restore("pg_restore")
        env = self.server.env()
        return self._peer_restore(argv[-1], lambda: _cmd([*argv, str(self.dump)], env))

    # restic

    def restic_backup(self, label: str, tag: str) -> dict[str, Any]:
        """pg_dump -Fc (or -Z0) | restic backup --stdin into this variant's repository."""
        if tag == "full":
            self.restics[label] = StreamRestic(self.workdir, label, self.server)
        restic = self.restics.get(label)
        if restic is None:
            raise BenchError(f"no {label} repository: its full backup failed")
        dump = ["pg_dump", "-Fc", *RESTIC_VARIANTS[label], *self.server.args(), self.base]
        result = restic.backup(dump, tag)
        result["version"] = restic.version()
        return result

    def restic_restore(self, label: str) -> dict[str, Any]:
        """restic dump of the full snapshot | pg_restore into a new database."""
        restic = self.restics.get(label)
        if restic is None or "error" in self.out["full"].get(label, {}):
            raise BenchError(f"no {label} full snapshot to restore")
        argv = self._pg_restore(label)
        return self._peer_restore(argv[-1], lambda: restic.feed("full", argv))

    # peers' restores

    def _pg_restore(self, suffix: str) -> list[str]:
        """pg_restore's argv into a new database named after ``suffix`` (last argument)."""
        database = self.name(suffix)
        return ["pg_restore", *self.server.args(), *RESTORE_FLAGS, "-d", database]

    def _peer_restore(self, database: str, feed: Callable[[], None]) -> dict[str, Any]:
        """Create ``database`` and run ``feed`` (timed together), verify, drop."""

        def restore() -> None:
            self.server.create_database(database)
            feed()

        try:
            _, seconds, cold = _timed(restore)
            check = verify(self.server, database, self.expected["full"])
        finally:
            self.server.drop_database(database)
        return {"seconds": seconds, "cold_cache": cold, **check}


# --- running the section -----------------------------------------------------------------


def _target_mib() -> int:
    return int(os.environ.get("SAFEHOLD_BENCH_DB_MIB", "1024"))


def measure(workdir: Path) -> dict[str, Any]:
    """Start Safehold, run every step, delete what was made; the raw and derived results."""
    from tests.live import running

    server = Server(os.environ.get("SAFEHOLD_BENCH_POSTGRESQL_URL") or DEFAULT_URL)
    out: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "loadavg_start": os.getloadavg()[0],
        "full": {},
        "restore": {},
        "incremental": {},
        "notes": NOTES,
    }
    try:
        start = time.perf_counter()
        env = {"SAFEHOLD_POSTGRESQL_URL": server.url}
        with running(workdir / "databases-service", extra_env=env) as svc:
            out["service"] = {"startup_seconds": time.perf_counter() - start}
            trove = Trove(svc)
            bench = Bench(workdir, server, trove, out)
            try:
                bench.run(_target_mib())
            except Exception as exc:
                traceback.print_exc()
                out["error"] = f"{type(exc).__name__}: {exc}"[:1500]
            finally:
                bench.collect_flow_runs()
                trove.delete_all()
    finally:
        out["databases_made"] = _drop_left(server, out.pop("databases_made", set()))
    out["loadavg_end"] = os.getloadavg()[0]
    out["cache_drop"] = data.drop_caches()
    derive(out)
    return out


def _drop_left(server: Server, names: set[str]) -> list[str]:
    """Drop directly what the API did not (a failure or a dead service): none should be left."""
    for name in sorted(names):
        try:
            server.drop_database(name)
        except Exception as exc:
            print(f"  could not drop database {name}: {exc}", flush=True)
    return sorted(names)


def failed(result: dict[str, Any]) -> list[str]:
    """Every error and failed verification of the section, empty when all went well."""
    errors = [f"section: {result['error']}"] if "error" in result else []
    for phase in ("full", "restore", "incremental"):
        for tool, step in result.get(phase, {}).items():
            if "error" in step:
                errors.append(f"{phase}/{tool}: {step['error']}")
            elif step.get("verified") is False:
                errors.append(f"{phase}/{tool}: restored database differs from the source")
    return errors


# --- derived numbers and the table -------------------------------------------------------


def _over(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _get(steps: dict[str, Any], tool: str, key: str) -> Any:
    return steps.get(tool, {}).get(key)


def derive(result: dict[str, Any]) -> None:
    """MB/s, the ratios to pg_dump -Fc and restic, and the two targets, in place."""
    db = result.get("database", {})
    sizes = {
        "full": db.get("size_bytes"),
        "restore": db.get("size_bytes"),
        "incremental": db.get("size_after_change_bytes"),
    }
    for phase, size in sizes.items():
        steps = result.get(phase, {})
        base = "pg_restore" if phase == "restore" else "pg_dump"
        for tool, step in steps.items():
            if "seconds" not in step:
                continue
            nbytes = sizes["incremental"] if tool == "safehold_incremental" else size
            step["mb_s"] = report.mb_s(nbytes or 0, step["seconds"])
            step[f"seconds_vs_{base}"] = _over(step["seconds"], _get(steps, base, "seconds"))
            if phase == "restore":
                continue  # a restore stores nothing
            for peer in RESTIC_VARIANTS:
                stored = _get(steps, peer, "stored_bytes")
                step[f"stored_vs_{peer}"] = _over(step.get("stored_bytes"), stored)
    result["targets"] = targets(result)


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's two targets: met (True/False) or None when a number is missing."""
    full, incr = result.get("full", {}), result.get("incremental", {})
    own_s, dump_s = _get(full, "safehold", "seconds"), _get(full, "pg_dump", "seconds")
    peers_stored = [_get(incr, peer, "stored_bytes") for peer in RESTIC_VARIANTS]
    known = [value for value in peers_stored if value is not None]
    restic = min(known) if known else None
    own = _get(incr, "safehold", "stored_bytes")
    return {
        "full_no_slower_than_pg_dump": {
            "met": own_s <= dump_s if own_s is not None and dump_s is not None else None,
            "safehold_seconds": own_s,
            "pg_dump_seconds": dump_s,
        },
        "incremental_stores_less_than_restic": {
            "met": own < restic if own is not None and restic is not None else None,
            "safehold_bytes": own,
            "restic_bytes": restic,
            "restic_compared": "the smaller of restic's two variants (pg_dump -Fc, -Fc -Z0)",
        },
    }


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.1f}"


def _missing(step: dict[str, Any]) -> str:
    return f"FAILED: {step['error'][:120]}" if "error" in step else "not run"


def _backup_table(steps: dict[str, Any]) -> list[str]:
    head = (
        f"  {'tool':<27}{'seconds':>9}{'MB/s':>8}{'stored MB':>11}"
        f"{'x pg_dump':>11}{'x restic':>10}{'x restic-Z0':>13}"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    for tool in ("safehold", "pg_dump", *RESTIC_VARIANTS):
        step = steps.get(tool, {})
        if "seconds" not in step:
            lines.append(f"  {LABELS[tool]:<27}{_missing(step)}")
            continue
        lines.append(
            f"  {LABELS[tool]:<27}{step['seconds']:>9.2f}{_num(step.get('mb_s'), '{:.1f}'):>8}"
            f"{_mb(step.get('stored_bytes')):>11}{_num(step.get('seconds_vs_pg_dump')):>11}"
            f"{_num(step.get('stored_vs_restic_fc')):>10}{_num(step.get('stored_vs_restic_z0')):>13}"
        )
    return lines


def _restore_table(steps: dict[str, Any]) -> list[str]:
    head = f"  {'source':<34}{'seconds':>9}{'MB/s':>8}{'x pg_restore':>14}  verified"
    lines = [head, "  " + "-" * (len(head) - 2)]
    for tool, label in RESTORE_LABELS.items():
        step = steps.get(tool, {})
        if "seconds" not in step:
            lines.append(f"  {label:<34}{_missing(step)}")
            continue
        verified = "yes" if step.get("verified") else "NO"
        lines.append(
            f"  {label:<34}{step['seconds']:>9.2f}{_num(step.get('mb_s'), '{:.1f}'):>8}"
            f"{_num(step.get('seconds_vs_pg_restore')):>14}  {verified}"
        )
    return lines


def _target_lines(goals: dict[str, Any]) -> list[str]:
    full, incr = goals["full_no_slower_than_pg_dump"], goals["incremental_stores_less_than_restic"]

    def mark(goal: dict[str, Any]) -> str:
        return {True: "[met]  ", False: "[UNMET]", None: "[?]    "}[goal["met"]]

    ratio_s = _over(full["safehold_seconds"], full["pg_dump_seconds"])
    ratio_b = _over(incr["safehold_bytes"], incr["restic_bytes"])
    return [
        f"  {mark(full)} full backup no slower than pg_dump -Fc: safehold "
        f"{_num(full['safehold_seconds'])} s, pg_dump -Fc {_num(full['pg_dump_seconds'])} s "
        f"({_num(ratio_s, '{:.2f}x')})",
        f"  {mark(incr)} incremental stores less than restic: safehold "
        f"{_mb(incr['safehold_bytes'])} MB, restic (smaller variant) {_mb(incr['restic_bytes'])} "
        f"MB ({_num(ratio_b, '{:.2f}x')})",
    ]


FLOW_STEPS = (
    ("full", "safehold", "full"),
    ("incremental", "safehold", "incremental"),
    ("restore", "safehold", "restore"),
    ("restore", "safehold_incremental", "restore incr"),
)


def _flow_lines(result: dict[str, Any]) -> list[str]:
    """Where Safehold's seconds went: waiting for the runner, the run, its longest task."""
    lines = []
    for phase, key, label in FLOW_STEPS:
        runs = result.get(phase, {}).get(key, {}).get("flow_runs") or []
        if runs and "run_seconds" in runs[0]:
            run = runs[0]
            task, task_s = max(run["task_seconds"].items(), key=lambda kv: kv[1], default=("-", 0))
            lines.append(
                f"  safehold {label + ' flow run:':<23}queued {_num(run['queued_seconds'])} s, "
                f"ran {run['run_seconds']:.1f} s ({task} {task_s:.1f} s)"
            )
    return lines or ["  safehold flow runs: not found"]


def _header(result: dict[str, Any]) -> list[str]:
    db, c = result.get("database", {}), result.get("change", {})
    rows = db.get("rows", {})
    cache = "worked" if result.get("cache_drop") else "NOT possible (numbers may be warm-cache)"
    lines = [
        "",
        f"Database backups: PostgreSQL {db.get('server_version', '?')}, database "
        f"{_mb(db.get('size_bytes'))} MB (pg_database_size; target {db.get('target_mib')} MiB)",
        f"  pgbench scale {db.get('pgbench_scale')} ({rows.get('pgbench_accounts', 0):,} "
        f"accounts) + {rows.get('articles', 0):,} articles rows; generated in "
        f"{db.get('generate_seconds', 0):.1f} s",
        f"  pg_dump -Z0 stream {_mb(_get(result.get('full', {}), 'safehold', 'dump_bytes'))} MB "
        "(the size Safehold's full backup reports)",
        f"  page-cache drop before each timed step: {cache}; 1-min load average "
        f"{result.get('loadavg_start', 0):.2f} at start, {result.get('loadavg_end', 0):.2f} at end",
    ]
    if c:
        lines.append(
            f"  change: +{c['accounts_appended']:,} accounts, +{c['history_appended']:,} history,"
            f" +{c['articles_appended']:,} articles; {c['accounts_updated']:,} accounts and "
            f"{c['articles_updated']:,} articles updated; "
            f"{_mb(db.get('size_after_change_bytes'))} MB after"
        )
    return lines


def render(result: dict[str, Any]) -> str:
    """The section's tables: full, incremental, restore, the targets, notes."""
    if "database" not in result:
        reason = result.get("error") or result.get("skipped") or "not run"
        return f"\ndatabase backups: {reason}"
    lines = _header(result)
    if "error" in result:
        lines.append(f"  !! section stopped: {result['error']}")
    lines += [
        "",
        "Full backup (MB/s of database size; x = over pg_dump -Fc's seconds, over restic's MB)",
        *_backup_table(result["full"]),
        "",
        "Incremental after the change (stored MB = added to the store; pg_dump = a new file)",
        *_backup_table(result["incremental"]),
        "",
        "Restore into a new database (MB/s of database size; x = over pg_restore's seconds)",
        *_restore_table(result["restore"]),
        "",
        "Targets",
        *_target_lines(result["targets"]),
        *_flow_lines(result),
        "",
        "Database notes",
        *[f"  - {note}" for note in result.get("notes", [])],
    ]
    return "\n".join(lines)


SECTION = sections.Section(
    "databases",
    "database backups (safehold, pg_dump, restic on PostgreSQL)",
    measure,
    render,
    failed,
    RESULTS,
)
run, section, only = SECTION.run, SECTION.section, SECTION.only
