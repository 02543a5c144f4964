"""Cinder v3 microversions: parse `OpenStack-API-Version`, negotiate, echo it on responses.

The middleware runs outside the routes and the fault table, so every response of the
versioned tree (errors included) carries `OpenStack-API-Version: volume <mv>` and
`Vary: OpenStack-API-Version`, as Cinder and tempest expect (FIELDS.md 1.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.cinder.trees import app_path
from api.faults import fault_response

HEADER: Final = "OpenStack-API-Version"
SERVICE: Final = "volume"
# Cinder's grammar: no leading zeros, so "3.05" is malformed rather than 3.5.
_VERSION_RE: Final = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class APIVersion(NamedTuple):
    """A microversion; compares with tuples, e.g. ``mv >= (3, 43)``."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


# Cinder 2024.1's maximum, which python-cinderclient 9.x and openstacksdk know; the SDK
# sends min(server max, resource max): 3.64 for backups, 3.65 snapshots, 3.71 volumes.
MIN_VERSION: Final = APIVersion(3, 0)
MAX_VERSION: Final = APIVersion(3, 71)


class VersionError(Exception):
    """The requested microversion cannot be served; carries the fault to answer with."""

    def __init__(self, status: int, message: str, echo: APIVersion) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.echo = echo


def requested_version(values: Iterable[str]) -> str | None:
    """The `volume` entry of one or more OpenStack-API-Version values, or None."""
    for item in ",".join(values).split(","):
        service, _, version = item.strip().partition(" ")
        if service.lower() == SERVICE:
            return version.strip()
    return None


def parse_version(text: str) -> APIVersion:
    """Parse 'X.Y'; VersionError 400 (as Cinder) when the string is malformed."""
    match = _VERSION_RE.match(text)
    if match is None:
        raise VersionError(
            400,
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.",
            MIN_VERSION,
        )
    return APIVersion(int(match.group(1)), int(match.group(2)))


def negotiate(values: Iterable[str]) -> APIVersion:
    """The microversion to serve: absent -> MIN, 'latest' -> MAX; VersionError otherwise."""
    text = requested_version(values)
    if text is None:
        return MIN_VERSION
    if text.lower() == "latest":
        return MAX_VERSION
    version = parse_version(text)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionError(
            406,
            f"Version {version} is not supported by the API. "
            f"Minimum is {MIN_VERSION} and maximum is {MAX_VERSION}.",
            version,
        )
    return version


def is_versioned(path: str) -> bool:
    """True for the paths whose responses carry the volume microversion header."""
    return path in ("/", "/v3") or path.startswith("/v3/")


def _echo(headers: MutableHeaders, version: APIVersion) -> None:
    headers[HEADER] = f"{SERVICE} {version}"
    headers.append("Vary", HEADER)


class MicroversionMiddleware:
    """Negotiate the microversion into `request.state.api_version` and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400/406 for unusable versions; otherwise run the app with the echo."""
        if scope["type"] != "http" or not is_versioned(app_path(scope)):
            await self.app(scope, receive, send)
            return
        try:
            version = negotiate(Headers(scope=scope).getlist(HEADER))
        except VersionError as exc:
            response = fault_response(exc.status, exc.message)
            _echo(response.headers, exc.echo)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["api_version"] = version

        async def send_with_echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                _echo(MutableHeaders(scope=message), version)
            await send(message)

        await self.app(scope, receive, send_with_echo)
