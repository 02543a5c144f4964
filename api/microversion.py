"""Microversions, shared by the dialects: parse, negotiate within bounds, echo on responses.

A dialect (api.cinder.microversion, api.manila.microversion) says which paths are
versioned, how its headers ask for a version, what the routes read from request.state
and what a response echoes. VersionMiddleware runs it outside the routes and the fault
table, so every response of a versioned path, errors included, carries the echo
(FIELDS.md 1.1).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.faults import fault_response

# The header keystoneauth sends: "<service type> <X.Y>" entries, comma-separated.
GENERIC_HEADER: Final = "OpenStack-API-Version"
STATE_KEY: Final = "api_version"
# OpenStack's grammar: no leading zeros, so "3.05" is malformed rather than 3.5.
_VERSION_RE: Final = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class APIVersion(NamedTuple):
    """A microversion; compares with tuples, e.g. ``mv >= (3, 43)``."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


class VersionError(Exception):
    """The requested microversion cannot be served; carries the fault and the version to echo."""

    def __init__(self, status: int, message: str, echo: APIVersion) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.echo = echo


def app_path(scope: Scope) -> str:
    """The request's path inside the app: `path` without the `root_path` it is mounted at."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def service_entry(values: Iterable[str], services: Collection[str]) -> str | None:
    """The version of the first entry naming one of `services` (lower case; matched in any
    case) in one or more OpenStack-API-Version values, or None."""
    for item in ",".join(values).split(","):
        service, _, version = item.strip().partition(" ")
        if service.lower() in services:
            return version.strip()
    return None


def parse_version(text: str) -> APIVersion:
    """Parse 'X.Y' (blanks around it ignored); ValueError with the 400 message Cinder and
    Manila give when it is malformed."""
    match = _VERSION_RE.match(text.strip())
    if match is None:
        raise ValueError(
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
        )
    return APIVersion(int(match.group(1)), int(match.group(2)))


def bounded(text: str | None, low: APIVersion, high: APIVersion) -> APIVersion:
    """The version to serve for the requested `text`: absent -> low, 'latest' -> high;
    VersionError 400 (echoing low) when malformed, 406 (echoing it) outside low..high."""
    if text is None:
        return low
    if text.strip().lower() == "latest":
        return high
    try:
        version = parse_version(text)
    except ValueError as exc:
        raise VersionError(400, str(exc), low) from None
    if not low <= version <= high:
        raise VersionError(
            406,
            f"Version {version} is not supported by the API. "
            f"Minimum is {low} and maximum is {high}.",
            version,
        )
    return version


def served_version(request: Request) -> APIVersion:
    """The microversion VersionMiddleware put in `request.state` (a dialect's lowest outside
    its versioned paths); RuntimeError in an app without the middleware."""
    version = getattr(request.state, STATE_KEY, None)
    if not isinstance(version, APIVersion):
        raise RuntimeError("no VersionMiddleware negotiated this request")
    return version


N = TypeVar("N")


class Dialect(Protocol[N]):
    """What VersionMiddleware asks a dialect; N is what a request negotiates."""

    @property
    def unversioned(self) -> N:
        """What the routes see outside the versioned paths (no echo there)."""
        ...

    def versioned(self, path: str) -> bool:
        """Whether responses on `path` (inside the app) negotiate and echo."""
        ...

    def negotiate(self, headers: Headers) -> N:
        """What the request asks for; VersionError when it cannot be served."""
        ...

    def refused(self, headers: Headers, error: VersionError) -> N:
        """What the fault answering `error` echoes."""
        ...

    def state(self, negotiated: N) -> Mapping[str, Any]:
        """The request.state entries the routes read (STATE_KEY among them)."""
        ...

    def echo(self, headers: MutableHeaders, negotiated: N) -> None:
        """Set the response headers that echo `negotiated`."""
        ...


class VersionMiddleware(Generic[N]):
    """Negotiate with `dialect` into request.state; answer VersionError with its fault;
    echo on every response of a versioned path."""

    def __init__(self, app: ASGIApp, dialect: Dialect[N]) -> None:
        self.app = app
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400/406 for unusable versions; otherwise run the app with the echo."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if not self.dialect.versioned(app_path(scope)):
            state.update(self.dialect.state(self.dialect.unversioned))
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            negotiated = self.dialect.negotiate(headers)
        except VersionError as exc:
            response = fault_response(exc.status, exc.message)
            self.dialect.echo(response.headers, self.dialect.refused(headers, exc))
            await response(scope, receive, send)
            return
        state.update(self.dialect.state(negotiated))

        async def send_with_echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                self.dialect.echo(MutableHeaders(scope=message), negotiated)
            await send(message)

        await self.app(scope, receive, send_with_echo)
