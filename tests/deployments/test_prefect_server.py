"""The embedded Prefect server: a 503 (a busy SQLite write, rolled back) is run again
inside the server (RetryBusy), and a failed statement's cursor is closed where it ran."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from deployments.prefect_server import RetryBusy, close_failed_cursors

NO_PAUSES = (0.0, 0.0, 0.0)


class Busy(Exception):
    """Stands for Prefect's SQLITE_BUSY OperationalError."""


def _app(busy_times: int, seen: list[bytes], fail: type[Exception] = Busy) -> Starlette:
    """Prefect's shape: routes under a mount, a handler that answers 503 for Busy (Starlette's
    error middleware then raises it again), the body read by the endpoint."""
    remaining = [busy_times]

    async def write(request: Request) -> JSONResponse:
        seen.append(await request.body())
        if remaining[0] > 0:
            remaining[0] -= 1
            raise fail("database is locked")
        return JSONResponse({"path": request.url.path, "body": (await request.json())})

    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, Busy):  # Prefect: retryable database errors are 503
            return JSONResponse({"exception_message": "Service Unavailable"}, status_code=503)
        return JSONResponse({"exception_message": "Internal Server Error"}, status_code=500)

    inner = Starlette(
        routes=[Route("/write", write, methods=["POST"])],
        exception_handlers={Exception: internal},
    )
    return Starlette(routes=[Mount("/api", app=inner)])


def _post(app: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/api/write", json={"n": 1})

    return asyncio.run(call())


def test_a_busy_answer_is_retried_with_the_same_body_and_path() -> None:
    seen: list[bytes] = []
    resp = _post(RetryBusy(_app(busy_times=2, seen=seen), pauses=NO_PAUSES))
    assert resp.status_code == 200
    assert resp.json() == {"path": "/api/write", "body": {"n": 1}}
    assert seen == [b'{"n":1}'] * 3


def test_still_busy_after_every_pause_the_client_gets_the_503() -> None:
    seen: list[bytes] = []
    resp = _post(RetryBusy(_app(busy_times=10, seen=seen), pauses=NO_PAUSES))
    assert resp.status_code == 503
    assert len(seen) == len(NO_PAUSES) + 1


def test_other_errors_are_answered_once_and_not_repeated() -> None:
    seen: list[bytes] = []
    resp = _post(RetryBusy(_app(busy_times=1, seen=seen, fail=ValueError), pauses=NO_PAUSES))
    assert resp.status_code == 500
    assert len(seen) == 1


def test_without_the_wrapper_the_same_app_answers_503() -> None:
    seen: list[bytes] = []
    assert _post(_app(busy_times=1, seen=seen)).status_code == 503


# close_failed_cursors: a failed statement's cursor, freed on the loop's thread, must not
# wait for its connection's thread (which may sit in SQLite's busy handler for a lock that
# only this loop can release).
BUSY_WAIT_MS = 3000


async def _failed_insert(conn: aiosqlite.Connection) -> sqlite3.OperationalError:
    """The error of an INSERT refused as busy, its traceback holding the cursor (as
    SQLAlchemy's adapter leaves it)."""
    cursor = await conn.cursor()
    try:
        await cursor.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return exc
    raise AssertionError("the insert was expected to be refused as busy")


async def _insert(conn: aiosqlite.Connection) -> None:
    cursor = await conn.cursor()
    await cursor.execute("INSERT INTO t VALUES (2)")
    await cursor.close()
    await conn.commit()


async def _free_a_failed_cursor_while_its_connection_waits(db: Path) -> None:
    async with aiosqlite.connect(db) as holder, aiosqlite.connect(db, timeout=0.05) as other:
        await holder.execute("PRAGMA journal_mode=WAL")
        await holder.execute("CREATE TABLE t (x)")
        await holder.commit()
        await holder.execute("BEGIN IMMEDIATE")  # the write lock, held by this loop
        failed: sqlite3.OperationalError | None = await _failed_insert(other)
        assert failed is not None and "locked" in str(failed)
        await other.execute(f"PRAGMA busy_timeout = {BUSY_WAIT_MS}")
        waiting = asyncio.ensure_future(_insert(other))  # in the busy handler, mutex held
        await asyncio.sleep(0.2)
        asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(holder.commit()))
        failed = None
        gc.collect()  # the traceback's cycle, and the cursor in it, freed on this thread
        await waiting  # got the lock once the holder committed: the loop never froze


def test_a_failed_cursor_is_closed_where_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aiosqlite.Cursor, "_execute", aiosqlite.Cursor._execute)  # undone after
    close_failed_cursors()
    close_failed_cursors()  # idempotent: one wrapper
    asyncio.run(_free_a_failed_cursor_while_its_connection_waits(tmp_path / "p.db"))


def test_without_it_the_loop_freezes_until_the_busy_wait_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure this guards against, shown on stock aiosqlite: the insert that waits
    for the lock is refused, because the loop could not commit while it waited."""
    monkeypatch.setattr(aiosqlite.Cursor, "_execute", aiosqlite.Cursor._execute)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        asyncio.run(_free_a_failed_cursor_while_its_connection_waits(tmp_path / "p.db"))
