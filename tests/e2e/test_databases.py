"""Trove database backups against a real `safehold run`, driven by python-troveclient.

The session's service (tests/e2e/conftest.py) has all three datastores: SQLite (built
in), and this machine's PostgreSQL and MariaDB servers. Per datastore: an instance is
created and loaded, then a full backup and two incrementals are made with rows changed and
added in between; each point of the chain is restored into a new instance (restorePoint)
and its query results compared with what the database held then; the chain is deleted in
one cascade whose child deletions are flow runs of their own. The PostgreSQL password
(trust auth ignores it) is a canary that must appear in no log, response or flow-run
parameter.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from troveclient import exceptions as trove_exc
from troveclient.v1 import client as trove_client

from tests.e2e.helpers import DATASTORE_CANARY as CANARY
from tests.e2e.helpers import POLL
from tests.e2e.tcp_proxy import Proxy
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "db000000000000000000000000000001"
TIMEOUT = 120.0
Rows = list[tuple[Any, ...]]
# `service` and `mariadb` (the proxy its MariaDB URL points at) are the session's.


def trove(svc: Service, project: str = PROJECT, user: str = "admin") -> Any:
    """python-troveclient as CLIENTS.md sets it up (no Keystone)."""
    auth = token_endpoint.Token(
        endpoint=f"{svc.trove_url}/v1.0/{project}", token=f"{user}:{project}"
    )
    return trove_client.Client(session=ks_session.Session(auth=auth))


def wait(get: Callable[[], Any], statuses: set[str], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    obj = get()
    while obj.status not in statuses:
        assert time.monotonic() < deadline, f"{obj.id} stuck in {obj.status}, wanted {statuses}"
        time.sleep(POLL)
        obj = get()
    return obj


# -- talking to each datastore directly, as a user of the instance would ----------------


class Sql:
    """Run statements in one database of one datastore; rows of a query, sorted."""

    def __init__(self, kind: str, database: str, directory: str) -> None:
        self.kind, self.database, self.directory = kind, database, directory

    def run(self, *statements: str) -> None:
        if self.kind == "sqlite":
            with sqlite3.connect(Path(self.directory) / f"{self.database}.sqlite3") as db:
                for statement in statements:
                    db.execute(statement)
        elif self.kind == "postgresql":
            with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=self.database) as db:
                with db.cursor() as cur:
                    for statement in statements:
                        cur.execute(statement)
        else:
            script = ";\n".join(statements) + ";"
            subprocess.run(
                ["mariadb", "-h", "127.0.0.1", "-uroot", self.database],
                input=script.encode(),
                check=True,
            )

    def rows(self, query: str) -> Rows:
        if self.kind == "sqlite":
            with sqlite3.connect(Path(self.directory) / f"{self.database}.sqlite3") as db:
                return sorted(db.execute(query).fetchall())
        if self.kind == "postgresql":
            with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=self.database) as db:
                with db.cursor() as cur:
                    cur.execute(query)
                    return sorted(cur.fetchall())
        out = subprocess.run(
            ["mariadb", "-h", "127.0.0.1", "-uroot", "-N", "-B", self.database, "-e", query],
            check=True,
            capture_output=True,
        ).stdout.decode()
        return sorted(tuple(_num(v) for v in line.split("\t")) for line in out.splitlines())


def _num(value: str) -> Any:
    return int(value) if value.lstrip("-").isdigit() else value


def sql_of(client: Any, instance: Any) -> Sql:
    """A connection to the instance's one database, found through the API."""
    (database,) = client.databases.list(instance)
    kind = instance.datastore["type"]
    return Sql(kind, database.name, instance.hostname)


QUERY = "SELECT id, name, qty FROM items"
BLOB = "x" * 4000


def load(sql: Sql, first: int, count: int) -> None:
    values = ", ".join(f"({i}, 'item-{i}-{BLOB}', {i % 97})" for i in range(first, first + count))
    sql.run(f"INSERT INTO items (id, name, qty) VALUES {values}")


def create(client: Any, kind: str, name: str, **extra: Any) -> Any:
    made = client.instances.create(name, flavor_id="1", volume={"size": 1}, datastore=kind, **extra)
    return wait(lambda: client.instances.get(made.id), {"ACTIVE", "ERROR"})


def backup(client: Any, instance: Any, name: str, **extra: Any) -> Any:
    made = client.backups.create(name, instance.id, **extra)
    done = wait(lambda: client.backups.get(made.id), {"COMPLETED", "FAILED"})
    assert done.status == "COMPLETED", done.fail_reason
    wait(lambda: client.instances.get(instance.id), {"ACTIVE"})
    return done


def _child_runs(svc: Service, backup_ids: list[str]) -> dict[str, str]:
    async def read() -> dict[str, str]:
        names = [f"delete-db-backup {b}" for b in backup_ids]
        async with PrefectClient(svc.prefect_api) as prefect:
            runs = await prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
            )
        return {r.parameters["backup_id"]: r.state_type.value for r in runs if r.parent_task_run_id}

    return asyncio.run(read())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_chain_restores_every_point_and_cascades(service: Service, kind: str) -> None:
    client = trove(service)
    dbname = f"e2e_{kind[:2]}_{uuid.uuid4().hex[:8]}"
    instance = create(client, kind, f"{kind}-source", databases=[{"name": dbname}])
    assert instance.status == "ACTIVE"
    sql = sql_of(client, instance)
    sql.run("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)")
    load(sql, 0, 400)
    expected: list[Rows] = [sql.rows(QUERY)]
    full = backup(client, instance, "full")
    assert full.parent_id is None and full.size > 0 and full.locationRef

    sql.run("UPDATE items SET qty = qty + 1000 WHERE id < 10", "DELETE FROM items WHERE id = 20")
    load(sql, 400, 50)
    expected.append(sql.rows(QUERY))
    incr1 = backup(client, instance, "incr1", incremental=True)
    assert incr1.parent_id == full.id

    load(sql, 450, 50)
    expected.append(sql.rows(QUERY))
    incr2 = backup(client, instance, "incr2", incremental=True)
    assert incr2.parent_id == incr1.id
    chain = [full, incr1, incr2]
    listed = client.instances.backups(instance.id)
    assert {b.id for b in listed} == {b.id for b in chain}

    for point, rows in zip(chain, expected, strict=True):
        restored = create(client, kind, f"from-{point.name}", restorePoint={"backupRef": point.id})
        assert restored.status == "ACTIVE", getattr(restored, "fault", None)
        assert sql_of(client, restored).rows(QUERY) == rows
        client.instances.delete(restored.id)

    client.backups.delete(full.id)
    for point in chain:
        _gone(lambda b=point: client.backups.get(b.id))
    # The last child run ends just after it removes the last row: wait for its state.
    wanted = {b.id: "COMPLETED" for b in chain}
    deadline = time.monotonic() + 30
    while (children := _child_runs(service, list(wanted))) != wanted:
        assert time.monotonic() < deadline, children
        time.sleep(0.3)
    client.instances.delete(instance.id)
    _gone(lambda: client.instances.get(instance.id))


def _committed(svc: Service, backup_id: str) -> bool:
    """Whether the backup's manifest (its commit point) is in the file store."""
    return any((svc.data_dir / "backups" / "databases").glob(f"*/manifests/{backup_id}"))


def _gone(get: Callable[[], Any], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get()
        except trove_exc.NotFound:
            return
        time.sleep(POLL)
    raise AssertionError("still there")


def test_a_failing_dump_ends_failed_and_frees_the_instance(service: Service) -> None:
    client = trove(service)
    dbname = f"e2e_gone_{uuid.uuid4().hex[:8]}"
    instance = create(client, "postgresql", "vanishing", databases=[{"name": dbname}])
    # Behind Safehold's back, as an operator's mistake would: pg_dump then exits non-zero.
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    try:
        admin.autocommit = True  # DROP DATABASE runs outside a transaction
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE {dbname}")
    finally:
        admin.close()
    made = client.backups.create("doomed", instance.id)
    failed = wait(lambda: client.backups.get(made.id), {"COMPLETED", "FAILED"})
    assert failed.status == "FAILED"
    assert dbname in failed.fail_reason
    assert not _committed(service, made.id)  # nothing of the failed dump is restorable
    assert wait(lambda: client.instances.get(instance.id), {"ACTIVE"}).status == "ACTIVE"
    client.backups.delete(made.id)
    _gone(lambda: client.backups.get(made.id))


def test_the_server_down_during_a_backup_fails_it_and_frees_the_instance(
    service: Service, mariadb: Proxy
) -> None:
    client = trove(service)
    dbname = f"e2e_down_{uuid.uuid4().hex[:8]}"
    instance = create(client, "mariadb", "unreachable", databases=[{"name": dbname}])
    mariadb.down()
    try:
        made = client.backups.create("no-server", instance.id)
        failed = wait(lambda: client.backups.get(made.id), {"COMPLETED", "FAILED"})
        after = wait(lambda: client.instances.get(instance.id), {"ACTIVE"})
    finally:
        mariadb.up()
    assert failed.status == "FAILED" and failed.fail_reason
    assert after.status == "ACTIVE"
    assert not _committed(service, made.id)
    again = backup(client, instance, "server-back")  # the next one works
    assert again.status == "COMPLETED"


def _public_tables(database: str) -> Rows:
    return Sql("postgresql", database, "").rows(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )


def test_a_name_already_on_the_server_is_refused_and_kept(service: Service) -> None:
    client = trove(service)
    before = _public_tables("test")
    listed = {i.id for i in client.instances.list()}
    with pytest.raises(trove_exc.BadRequest):
        client.instances.create(
            "clash", flavor_id="1", datastore="postgresql", databases=[{"name": "test"}]
        )
    assert _public_tables("test") == before  # the existing database is untouched
    assert {i.id for i in client.instances.list()} == listed  # and no instance was made


def test_another_project_sees_nothing(service: Service) -> None:
    client = trove(service)
    instance = create(client, "sqlite", "private")
    other = trove(service, "db000000000000000000000000000002", "bob")
    with pytest.raises(trove_exc.NotFound):
        other.instances.get(instance.id)
    assert other.backups.list() == []
    client.instances.delete(instance.id)


def test_the_password_is_nowhere(service: Service) -> None:
    """After the tests above: no log line, API answer or flow-run parameter holds it."""
    for path in (service.data_dir / "logs").glob("*.log"):
        assert CANARY not in path.read_text(errors="replace"), path
    assert CANARY not in service.log.read_text(errors="replace")
    headers = {"X-Auth-Token": f"admin:{PROJECT}"}
    for route in ("datastores", "instances", "backups"):
        resp = requests.get(
            f"{service.trove_url}/v1.0/{PROJECT}/{route}", headers=headers, timeout=10
        )
        assert resp.status_code == 200 and CANARY not in resp.text

    async def parameters() -> str:
        # Every run of the (shared) service, page by page: the server caps a page at 200.
        params: list[Any] = []
        async with PrefectClient(service.prefect_api) as prefect:
            while page := await prefect.read_flow_runs(limit=200, offset=len(params)):
                params.extend(r.parameters for r in page)
        return repr(params)

    assert CANARY not in asyncio.run(parameters())


def test_a_cascade_stopped_by_a_failing_delete_leaves_the_rest_restorable(
    service: Service,
) -> None:
    client = trove(service)
    instance = create(client, "sqlite", "cascade-stop")
    sql = sql_of(client, instance)
    sql.run("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)")
    load(sql, 0, 100)
    full = backup(client, instance, "full")
    load(sql, 100, 20)
    leaf = backup(client, instance, "leaf", incremental=True)
    expected = sql.rows(QUERY)
    # The store refuses every delete: the leaf's (the first deleted) fails for good.
    service.fault_file.write_text('{"delete": {"permanent": 1000}}')
    try:
        client.backups.delete(full.id)
        stopped = wait(lambda: client.backups.get(leaf.id), {"DELETE_FAILED"})
        kept = wait(lambda: client.backups.get(full.id), {"COMPLETED"})
    finally:
        service.fault_file.unlink()
    assert "injected" in stopped.fail_reason
    assert leaf.id in kept.fail_reason  # says where the cascade stopped
    restored = create(client, "sqlite", "after-stop", restorePoint={"backupRef": full.id})
    assert sql_of(client, restored).rows(QUERY) == expected[:100]
    client.backups.delete(full.id)  # deleting again finishes the cascade
    for point in (leaf, full):
        _gone(lambda b=point: client.backups.get(b.id))


def test_restore_from_registers_a_stored_backup_whose_record_was_lost(service: Service) -> None:
    client = trove(service)
    instance = create(client, "sqlite", "lost-record")
    sql = sql_of(client, instance)
    sql.run("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)")
    load(sql, 0, 50)
    saved = backup(client, instance, "kept")
    with sqlite3.connect(service.data_dir / "catalog.db") as catalog:
        catalog.execute("DELETE FROM db_backups WHERE id = ?", (saved.id,))
    with pytest.raises(trove_exc.NotFound):
        client.backups.get(saved.id)
    version = client.datastore_versions.list("sqlite")[0]
    again = client.backups.create(
        "registered", None, restore_from=saved.locationRef, restore_ds_version=version.id
    )
    assert again.id == saved.id and again.status == "RESTORED"
    restored = create(client, "sqlite", "from-registered", restorePoint={"backupRef": again.id})
    assert sql_of(client, restored).rows(QUERY) == sql.rows(QUERY)
    with pytest.raises(trove_exc.ClientException):  # already registered now
        client.backups.create("twice", None, restore_from=saved.locationRef)


def test_a_registered_database_is_backed_up_and_kept_when_forgotten(service: Service) -> None:
    name = f"e2e_legacy_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        sql = Sql("postgresql", name, "")
        sql.run("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)")
        load(sql, 0, 30)
        resp = requests.post(
            f"{service.trove_url}/v1.0/{PROJECT}/instances/manage",
            json={
                "instance": {
                    "name": "legacy",
                    "database": name,
                    "datastore": {"type": "postgresql"},
                }
            },
            headers={"X-Auth-Token": f"admin:{PROJECT}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        client = trove(service)
        instance = wait(lambda: client.instances.get(resp.json()["instance"]["id"]), {"ACTIVE"})
        saved = backup(client, instance, "legacy-full")
        restored = create(client, "postgresql", "legacy-copy", restorePoint={"backupRef": saved.id})
        assert sql_of(client, restored).rows(QUERY) == sql.rows(QUERY)
        client.instances.delete(instance.id)
        _gone(lambda: client.instances.get(instance.id))
        assert sql.rows("SELECT count(*) FROM items") == [(30,)]  # forgotten, not dropped
        client.instances.delete(restored.id)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
