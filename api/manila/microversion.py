"""Manila v2 microversions: negotiate `X-OpenStack-Manila-API-Version`, echo it back.

Manila's own header wins; keystoneauth's `OpenStack-API-Version: shared-file-system 2.N`
is read when it is absent; neither means 2.0 (FIELDS.md 1.1). Every response under /v2,
errors included, echoes the version (and the experimental flag when the request set it)
with `Vary`; api.microversion.VersionMiddleware runs this dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders

from api.faults import Fault
from api.microversion import (
    GENERIC_HEADER,
    STATE_KEY,
    APIVersion,
    VersionError,
    bounded,
    served_version,
    service_entry,
)

HEADER: Final = "X-OpenStack-Manila-API-Version"
EXPERIMENTAL_HEADER: Final = "X-OpenStack-Manila-API-Experimental"
# Service types keystoneauth may name Manila by in OpenStack-API-Version.
SERVICES: Final = frozenset({"shared-file-system", "sharev2", "share"})
MIN_VERSION: Final = APIVersion(2, 0)
# 2.91 (targeted restores) is the newest behaviour served; python-manilaclient 6.x knows it.
MAX_VERSION: Final = APIVersion(2, 91)
SHARE_BACKUPS_SINCE: Final = APIVersion(2, 80)
NOT_FOUND: Final = "The resource could not be found."
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})


@dataclass(frozen=True)
class Negotiated:
    """What a request asked for: its microversion, experimental flag and header style."""

    version: APIVersion
    experimental: bool = False
    generic: bool = False  # the version came in OpenStack-API-Version


def _experimental(headers: Headers) -> bool:
    return headers.get(EXPERIMENTAL_HEADER, "").strip().lower() in _TRUE


def negotiate(headers: Headers) -> Negotiated:
    """The microversion to serve: absent -> 2.0, 'latest' -> max; VersionError otherwise."""
    text, generic = headers.get(HEADER), False
    if text is None:
        text = service_entry(headers.getlist(GENERIC_HEADER), SERVICES)
        generic = text is not None
    version = bounded(text, MIN_VERSION, MAX_VERSION)
    return Negotiated(version, _experimental(headers), generic)


def is_versioned(path: str) -> bool:
    """True for the paths whose responses carry the Manila microversion headers."""
    return path == "/v2" or path.startswith("/v2/")


class ManilaVersions:
    """The Manila dialect of api.microversion.VersionMiddleware: version + experimental flag."""

    unversioned: Final = Negotiated(MIN_VERSION)

    def versioned(self, path: str) -> bool:
        """See is_versioned."""
        return is_versioned(path)

    def negotiate(self, headers: Headers) -> Negotiated:
        """See negotiate."""
        return negotiate(headers)

    def refused(self, headers: Headers, error: VersionError) -> Negotiated:
        """The version the error names, in Manila's header, with the request's flag."""
        return Negotiated(error.echo, _experimental(headers))

    def state(self, negotiated: Negotiated) -> Mapping[str, Any]:
        """`request.state.api_version` and `.experimental`."""
        return {STATE_KEY: negotiated.version, "experimental": negotiated.experimental}

    def echo(self, headers: MutableHeaders, negotiated: Negotiated) -> None:
        """Manila's header (+ the experimental flag when set), and keystoneauth's when it
        asked in it; `Vary` for each."""
        headers[HEADER] = str(negotiated.version)
        if negotiated.experimental:
            headers[EXPERIMENTAL_HEADER] = "True"  # Manila echoes its boolean, str()-ed
        headers.append("Vary", HEADER)
        if negotiated.generic:
            headers[GENERIC_HEADER] = f"shared-file-system {negotiated.version}"
            headers.append("Vary", GENERIC_HEADER)


MANILA: Final = ManilaVersions()


def request_version(request: Request) -> APIVersion:
    """The microversion the middleware negotiated (2.0 outside /v2)."""
    return served_version(request)


def require_share_backups(request: Request) -> None:
    """Route dependency: share backups exist from 2.80 and only as an experimental API;
    anything else is Manila's generic 404 (FIELDS.md 1.1)."""
    experimental = bool(getattr(request.state, "experimental", False))
    if request_version(request) < SHARE_BACKUPS_SINCE or not experimental:
        raise Fault(404, NOT_FOUND)
