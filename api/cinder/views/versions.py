"""The Cinder v3 and v2 version documents (FIELDS.md 2.1)."""

from __future__ import annotations

from typing import Any, Final

from api.cinder.microversion import MAX_VERSION, MIN_VERSION

UPDATED: Final = "2023-08-31T00:00:00Z"
V2_UPDATED: Final = "2017-02-25T12:00:00Z"  # upstream's last v2 document


def v3_version(base_url: str) -> dict[str, Any]:
    """The v3 entry of `{"versions": [...]}`; `base_url` has no trailing slash."""
    return _entry(base_url, 3, "CURRENT", UPDATED, str(MIN_VERSION), str(MAX_VERSION))


def v2_version(base_url: str) -> dict[str, Any]:
    """The v2 entry: deprecated, no microversions (empty version strings), as upstream."""
    return _entry(base_url, 2, "DEPRECATED", V2_UPDATED, "", "")


def _entry(
    base_url: str, major: int, status: str, updated: str, min_version: str, version: str
) -> dict[str, Any]:
    return {
        "id": f"v{major}.0",
        "links": [
            {"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
            {"href": f"{base_url}/v{major}/", "rel": "self"},
        ],
        "media-types": [
            {
                "base": "application/json",
                "type": f"application/vnd.openstack.volume+json;version={major}",
            }
        ],
        "min_version": min_version,
        "status": status,
        "updated": updated,
        "version": version,
    }
