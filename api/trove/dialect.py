"""Trove has no microversions: every path is served at v1.0, and nothing is echoed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.datastructures import Headers, MutableHeaders

from api.microversion import STATE_KEY, APIVersion, VersionError

V1: Final = APIVersion(1, 0)


class TroveDialect:
    """The unversioned dialect VersionMiddleware runs for the Trove app."""

    @property
    def unversioned(self) -> APIVersion:
        """v1.0 everywhere."""
        return V1

    def versioned(self, path: str) -> bool:
        """No path negotiates."""
        return False

    def negotiate(self, headers: Headers) -> APIVersion:
        """Never asked (no versioned path)."""
        return V1

    def refused(self, headers: Headers, error: VersionError) -> APIVersion:
        """Never asked (no versioned path)."""
        return V1

    def state(self, negotiated: APIVersion) -> Mapping[str, Any]:
        """The version the routes read."""
        return {STATE_KEY: negotiated}

    def echo(self, headers: MutableHeaders, negotiated: APIVersion) -> None:
        """Trove echoes nothing."""


TROVE: Final = TroveDialect()
