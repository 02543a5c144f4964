"""OpenStack fault bodies, and the one table that maps exceptions onto them.

Every error leaves as ``{"<faultName>": {"code": <status>, "message": <text>}}``
(FIELDS.md 1.3). Messages of 5xx faults never carry exception text: internals are
logged, not shown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.launcher import LaunchError
from storage.errors import (
    InvalidRequest,
    InvalidStatus,
    RecordNotFound,
    ResourceBusy,
    SafeholdError,
)

logger = logging.getLogger(__name__)

FAULT_NAMES: Final[Mapping[int, str]] = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    501: "notImplemented",
    503: "serviceUnavailable",
}
# Cinder names every other code (406 included) computeFault.
DEFAULT_FAULT: Final = "computeFault"
SERVER_ERROR: Final = (
    "The server has either erred or is incapable of performing the requested operation."
)
UNAVAILABLE: Final = "The orchestrator is unavailable; nothing was started. Try again later."
# Starlette's own 404/405 carry the bare reason phrase; say what Cinder says instead.
_PLAIN_MESSAGES: Final[Mapping[int, str]] = {
    404: "The resource could not be found.",
    405: "The method is not allowed for the requested URL.",
}
# Ordered: the first matching class decides (subclasses before SafeholdError).
_ERROR_STATUS: Final[tuple[tuple[type[Exception], int], ...]] = (
    (RecordNotFound, 404),
    (ResourceBusy, 409),
    (InvalidStatus, 400),
    (InvalidRequest, 400),
    (LaunchError, 503),
    (SafeholdError, 500),
)


class Fault(Exception):
    """An error the API raises on purpose, rendered with its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fault_body(status: int, message: str) -> dict[str, dict[str, int | str]]:
    """The OpenStack fault body for `status`."""
    return {FAULT_NAMES.get(status, DEFAULT_FAULT): {"code": status, "message": message}}


def fault_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON response carrying the fault body."""
    return JSONResponse(fault_body(status, message), status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    """A readable one-line message for the first validation error, in Cinder's words."""
    errors = list(exc.errors())
    if not errors:
        return "Invalid input."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "Malformed request body"
    loc = [str(part) for part in first.get("loc", ())][1:]  # drop "body"/"query"/...
    if not loc:
        return f"Invalid request body: {first.get('msg', 'invalid')}."
    if first.get("type") == "extra_forbidden":
        where = ".".join(loc[:-1]) or "body"
        return (
            f"Invalid input for field/attribute {where}. "
            f"Additional properties are not allowed ('{loc[-1]}' was unexpected)"
        )
    return f"Invalid input for field/attribute {'.'.join(loc)}. {first.get('msg', 'invalid')}"


def _status_of(exc: Exception) -> int:
    for kind, status in _ERROR_STATUS:
        if isinstance(exc, kind):
            return status
    return 500


async def _handle_fault(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Fault)
    return fault_response(exc.status, exc.message)


async def _handle_ours(request: Request, exc: Exception) -> JSONResponse:
    status = _status_of(exc)
    if status == 503:
        return fault_response(status, UNAVAILABLE)
    if status >= 500:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return fault_response(status, SERVER_ERROR)
    return fault_response(status, str(exc))


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if message == HTTPStatus(exc.status_code).phrase:
        message = _PLAIN_MESSAGES.get(exc.status_code, message)
    return fault_response(exc.status_code, message, headers=exc.headers)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return fault_response(400, validation_message(exc))


class FaultBarrier:
    """ASGI middleware: any exception that escaped the table becomes a 500 computeFault.

    Starlette would answer such errors outside every user middleware (so without the
    microversion echo) and with a plain-text body; this barrier sits inside the echo.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an unexpected exception answer 500 unless a reply has begun."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await fault_response(500, SERVER_ERROR)(scope, receive, send)


def install_faults(app: FastAPI) -> None:
    """Register the handler table and the barrier on `app`."""
    app.add_exception_handler(Fault, _handle_fault)
    app.add_exception_handler(SafeholdError, _handle_ours)
    app.add_exception_handler(LaunchError, _handle_ours)
    app.add_exception_handler(HTTPException, _handle_http)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_middleware(FaultBarrier)
