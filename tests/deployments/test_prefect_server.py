"""RetryBusy: a 503 (a busy SQLite write, rolled back) is run again inside the server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from deployments.prefect_server import RetryBusy

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
