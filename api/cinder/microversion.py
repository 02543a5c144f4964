"""Cinder v3 microversions: `OpenStack-API-Version: volume X.Y`, negotiated and echoed.

Every response of the versioned tree (`/`, `/v3…`), errors included, carries
`OpenStack-API-Version: volume <mv>` and `Vary: OpenStack-API-Version`, as Cinder and
tempest expect (FIELDS.md 1.1). v2 is served at 3.0 without the header (api.cinder.trees).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from starlette.datastructures import Headers, MutableHeaders

from api.microversion import (
    GENERIC_HEADER,
    STATE_KEY,
    APIVersion,
    VersionError,
    bounded,
    service_entry,
)

HEADER: Final = GENERIC_HEADER
SERVICE: Final = "volume"
# Cinder 2024.1's maximum, which python-cinderclient 9.x and openstacksdk know; the SDK
# sends min(server max, resource max): 3.64 for backups, 3.65 snapshots, 3.71 volumes.
MIN_VERSION: Final = APIVersion(3, 0)
MAX_VERSION: Final = APIVersion(3, 71)


def requested_version(values: Iterable[str]) -> str | None:
    """The `volume` entry of one or more OpenStack-API-Version values, or None."""
    return service_entry(values, (SERVICE,))


def negotiate(values: Iterable[str]) -> APIVersion:
    """The microversion to serve: absent -> MIN, 'latest' -> MAX; VersionError otherwise."""
    return bounded(requested_version(values), MIN_VERSION, MAX_VERSION)


def is_versioned(path: str) -> bool:
    """True for the paths whose responses carry the volume microversion header."""
    return path in ("/", "/v3") or path.startswith("/v3/")


class CinderVersions:
    """The Cinder dialect of api.microversion.VersionMiddleware: a bare APIVersion."""

    unversioned: Final = MIN_VERSION

    def versioned(self, path: str) -> bool:
        """See is_versioned."""
        return is_versioned(path)

    def negotiate(self, headers: Headers) -> APIVersion:
        """See negotiate."""
        return negotiate(headers.getlist(HEADER))

    def refused(self, headers: Headers, error: VersionError) -> APIVersion:
        """The version the error names (the minimum for a malformed one)."""
        return error.echo

    def state(self, negotiated: APIVersion) -> Mapping[str, Any]:
        """`request.state.api_version`."""
        return {STATE_KEY: negotiated}

    def echo(self, headers: MutableHeaders, negotiated: APIVersion) -> None:
        """`OpenStack-API-Version: volume X.Y` and `Vary`."""
        headers[HEADER] = f"{SERVICE} {negotiated}"
        headers.append("Vary", HEADER)


CINDER: Final = CinderVersions()
