"""What can go wrong in the client, each reported as one line on stderr.

    ClientError                every error the client reports; exit status 1 unless noted
    ├── ConfigError            bad flags, environment or config file (exit status 2)
    ├── TransportError         no HTTP answer: connection refused, DNS, TLS, timeout
    ├── ApiError               an HTTP error answer, carrying the OpenStack fault
    ├── OperationFailed        an asynchronous operation ended in an error status
    └── WaitInterrupted        Ctrl-C while waiting; the operation goes on (exit status 130)

Foreign exceptions (httpx's) are translated at one boundary, deployments.client.http.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Final

MAX_TEXT: Final = 200


class ClientError(Exception):
    """An error the user must see: its str() is the whole one-line message."""

    exit_code = 1


class ConfigError(ClientError):
    """The configuration (flags, environment, config file) is unusable."""

    exit_code = 2


class TransportError(ClientError):
    """The request got no HTTP answer (refused, unresolvable, timed out)."""


class ApiError(ClientError):
    """The API answered with an error status; `fault` is the OpenStack fault name."""

    def __init__(self, status: int, message: str, fault: str | None = None) -> None:
        self.status = status
        self.message = message
        self.fault = fault
        super().__init__(render_fault(status, message, fault))


class OperationFailed(ClientError):
    """A followed operation ended in an error status (its fail_reason, when shown)."""

    def __init__(self, what: str, status: str, reason: str | None = None) -> None:
        self.what = what
        self.status = status
        self.reason = reason
        tail = f": {reason}" if reason else ""
        super().__init__(f"{what} ended {status}{tail}")


class WaitInterrupted(ClientError):
    """The user stopped waiting; the operation itself was not cancelled."""

    exit_code = 130


def render_fault(status: int, message: str, fault: str | None) -> str:
    """`<message> (HTTP <code> <fault>)`, as OpenStack clients print a fault."""
    name = f" {fault}" if fault else ""
    return f"{message} (HTTP {status}{name})"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def parse_fault(status: int, text: str) -> ApiError:
    """The ApiError of an error answer: an OpenStack fault body, FastAPI's `detail`,
    or else the (shortened) text itself."""
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and len(body) == 1:
        ((name, value),) = body.items()
        if isinstance(value, dict) and "message" in value:
            return ApiError(status, str(value["message"]), name)
        if name == "detail":
            return ApiError(status, str(value))
    short = " ".join(text.split())[:MAX_TEXT]
    return ApiError(status, short or _phrase(status))
