"""Manila v2 microversions: negotiate `X-OpenStack-Manila-API-Version`, echo it back.

Manila's own header wins; keystoneauth's `OpenStack-API-Version: shared-file-system 2.N`
is read when it is absent; neither means 2.0 (FIELDS.md 1.1). Every response under /v2,
errors included, echoes the version (and the experimental flag when the request set it)
with `Vary`. The middleware sits outside the routes and the fault table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.cinder.trees import app_path
from api.faults import Fault, fault_response
from api.microversion import APIVersion

HEADER: Final = "X-OpenStack-Manila-API-Version"
EXPERIMENTAL_HEADER: Final = "X-OpenStack-Manila-API-Experimental"
GENERIC_HEADER: Final = "OpenStack-API-Version"
# Service types keystoneauth may name Manila by in OpenStack-API-Version.
SERVICES: Final = frozenset({"shared-file-system", "sharev2", "share"})
MIN_VERSION: Final = APIVersion(2, 0)
# 2.91 (targeted restores) is the newest behaviour served; python-manilaclient 6.x knows it.
MAX_VERSION: Final = APIVersion(2, 91)
SHARE_BACKUPS_SINCE: Final = APIVersion(2, 80)
NOT_FOUND: Final = "The resource could not be found."
_VERSION_RE: Final = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})


@dataclass(frozen=True)
class Negotiated:
    """What a request asked for: its microversion, experimental flag and header style."""

    version: APIVersion
    experimental: bool = False
    generic: bool = False  # the version came in OpenStack-API-Version


class VersionError(Exception):
    """The requested microversion cannot be served; carries the fault and the echo."""

    def __init__(self, status: int, message: str, echo: APIVersion) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.echo = echo


def _generic_value(values: Iterable[str]) -> str | None:
    for item in ",".join(values).split(","):
        service, _, version = item.strip().partition(" ")
        if service.lower() in SERVICES:
            return version.strip()
    return None


def parse_version(text: str) -> APIVersion:
    """Parse 'X.Y'; VersionError 400 (Manila's words) when malformed."""
    match = _VERSION_RE.match(text.strip())
    if match is None:
        raise VersionError(
            400,
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.",
            MIN_VERSION,
        )
    return APIVersion(int(match.group(1)), int(match.group(2)))


def negotiate(headers: Headers) -> Negotiated:
    """The microversion to serve: absent -> 2.0, 'latest' -> max; VersionError otherwise."""
    experimental = headers.get(EXPERIMENTAL_HEADER, "").strip().lower() in _TRUE
    text, generic = headers.get(HEADER), False
    if text is None:
        text = _generic_value(headers.getlist(GENERIC_HEADER))
        generic = text is not None
    if text is None:
        return Negotiated(MIN_VERSION, experimental)
    if text.strip().lower() == "latest":
        return Negotiated(MAX_VERSION, experimental, generic)
    version = parse_version(text)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionError(
            406,
            f"Version {version} is not supported by the API. "
            f"Minimum is {MIN_VERSION} and maximum is {MAX_VERSION}.",
            version,
        )
    return Negotiated(version, experimental, generic)


def is_versioned(path: str) -> bool:
    """True for the paths whose responses carry the Manila microversion headers."""
    return path == "/v2" or path.startswith("/v2/")


def _echo(headers: MutableHeaders, negotiated: Negotiated) -> None:
    headers[HEADER] = str(negotiated.version)
    if negotiated.experimental:
        headers[EXPERIMENTAL_HEADER] = "True"  # Manila echoes its boolean, str()-ed
    headers.append("Vary", HEADER)
    if negotiated.generic:
        headers[GENERIC_HEADER] = f"shared-file-system {negotiated.version}"
        headers.append("Vary", GENERIC_HEADER)


class ManilaVersionMiddleware:
    """Negotiate into `request.state.api_version` / `.experimental` and echo both back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400/406 for unusable versions; otherwise run the app with the echo."""
        if scope["type"] != "http" or not is_versioned(app_path(scope)):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            negotiated = negotiate(headers)
        except VersionError as exc:
            response = fault_response(exc.status, exc.message)
            experimental = headers.get(EXPERIMENTAL_HEADER, "").strip().lower() in _TRUE
            _echo(response.headers, Negotiated(exc.echo, experimental))
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["api_version"] = negotiated.version
        state["experimental"] = negotiated.experimental

        async def send_with_echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                _echo(MutableHeaders(scope=message), negotiated)
            await send(message)

        await self.app(scope, receive, send_with_echo)


def request_version(request: Request) -> APIVersion:
    """The microversion the middleware negotiated (2.0 outside /v2)."""
    version = getattr(request.state, "api_version", MIN_VERSION)
    return version if isinstance(version, APIVersion) else MIN_VERSION


def require_share_backups(request: Request) -> None:
    """Route dependency: share backups exist from 2.80 and only as an experimental API;
    anything else is Manila's generic 404 (FIELDS.md 1.1)."""
    experimental = bool(getattr(request.state, "experimental", False))
    if request_version(request) < SHARE_BACKUPS_SINCE or not experimental:
        raise Fault(404, NOT_FOUND)
