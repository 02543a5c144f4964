"""The embedded Prefect server: Prefect's own app, which retries a busy SQLite write itself.

On its SQLite database Prefect's server answers a write that lost a race (SQLITE_BUSY
on a deferred transaction: the concurrency-slot increment, a flow-run creation) with
503, and Prefect's client waits 2 s before it asks again. Measured with the 1 MiB
backup of tests/bench/latency.py: 503 on 6 of 10 runs, each adding 2 s to the run.
The failed request was rolled back as a whole, so running it again at once is what the
client's own retry would do, 2 s sooner. Anything else passes through untouched, and a
request still busy after the last try gets the 503 (and the client's backoff) as before.

It also closes a failed statement's SQLite cursor where the statement ran
(`close_failed_cursors`). SQLAlchemy's aiosqlite adapter leaves the cursor of a statement
that raised (SQLITE_BUSY, say) to the exception's traceback; when that traceback is
freed, on the event loop's thread, the cursor's finaliser takes its connection's mutex,
which the connection's worker thread holds while it runs a statement, including a wait
of up to 60 s (Prefect's busy_timeout) for a write lock. If the lock's holder is a
coroutine of the same server, nothing can move: the whole server froze for 60 s per
round (seen with gdb: the loop thread in sqlite3_reset from cursor_dealloc, three
connections in the busy handler; `make bench`'s latency step timed out in 2 runs of 5
and a stress loop at its 6th round, and one fresh-clone test run's CLI tests waited 3
minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import aiosqlite

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Pauses before each repeat: about 1.5 s in all, the client's first backoff is 2 s.
PAUSES: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7)
BUSY: Final = 503


class RetryBusy:
    """ASGI middleware: an HTTP request answered 503 runs again after a short pause."""

    def __init__(self, app: App, pauses: tuple[float, ...] = PAUSES) -> None:
        self.app = app
        self.pauses = pauses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        for pause in self.pauses:
            messages, error = await _attempt(self.app, scope, body)
            if not _busy(messages):
                for message in messages:
                    await send(message)
                if error is not None:  # as without this wrapper: the server logs it
                    raise error
                return
            await asyncio.sleep(pause)
        await self.app(dict(scope), _replay(body), send)  # the last try answers, whatever it is


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a server does: nothing more until disconnect
        raise AssertionError("unreachable")

    return receive


async def _attempt(app: App, scope: Scope, body: bytes) -> tuple[list[Message], Exception | None]:
    """The response's messages and what the app raised after answering (Starlette's error
    middleware sends the 500/503 answer, then raises the exception again)."""
    messages: list[Message] = []

    async def collect(message: Message) -> None:
        messages.append(message)

    try:
        await app(dict(scope), _replay(body), collect)  # routing writes into its scope
    except Exception as exc:
        if not messages:
            raise
        return messages, exc
    return messages, None


def _busy(messages: list[Message]) -> bool:
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    return start is not None and start["status"] == BUSY


# Closes scheduled for cancelled statements, held until they ran (a task needs an owner).
_closing: set[asyncio.Future[Any]] = set()


def close_failed_cursors() -> None:
    """Make every aiosqlite cursor whose call fails or is cancelled close on its connection's
    thread (queued after the call), so no finaliser on the loop's thread waits for that
    thread. Idempotent."""
    run: Callable[..., Awaitable[Any]] = aiosqlite.Cursor._execute  # aiosqlite is untyped here
    if getattr(run, "closes_failed_cursors", False):
        return

    async def _execute(self: aiosqlite.Cursor, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await run(self, fn, *args, **kwargs)
        except sqlite3.Error:
            with contextlib.suppress(Exception):  # a closed connection: nothing to wait for
                await run(self, self._cursor.close)
            raise
        except asyncio.CancelledError:
            # The statement may still be running on the connection's thread: queue the
            # close behind it and keep the cursor alive until it ran.
            closing = asyncio.ensure_future(run(self, self._cursor.close))
            _closing.add(closing)
            closing.add_done_callback(_closed)
            raise

    _execute.closes_failed_cursors = True  # type: ignore[attr-defined]
    aiosqlite.Cursor._execute = _execute  # type: ignore[method-assign]


def _closed(closing: asyncio.Future[Any]) -> None:
    _closing.discard(closing)
    if not closing.cancelled():
        closing.exception()  # retrieved: a close that failed has nothing left to free


def main() -> None:
    """`python -m deployments.prefect_server HOST PORT`: serve Prefect's API and UI."""
    import uvicorn
    from prefect.server.api.server import create_app
    from prefect.settings import (
        PREFECT_SERVER_API_KEEPALIVE_TIMEOUT,
        PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL,
        PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT,
        PREFECT_SERVER_LOGGING_LEVEL,
    )

    host, port = sys.argv[1], int(sys.argv[2])
    close_failed_cursors()
    uvicorn.run(
        RetryBusy(create_app(final=True)),
        host=host,
        port=port,
        timeout_keep_alive=PREFECT_SERVER_API_KEEPALIVE_TIMEOUT.value(),
        ws_ping_interval=PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL.value(),
        ws_ping_timeout=PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT.value(),
        log_level=PREFECT_SERVER_LOGGING_LEVEL.value().lower(),
    )


if __name__ == "__main__":
    main()
