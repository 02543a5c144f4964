"""The Cinder v3 version document (FIELDS.md 2.1)."""

from __future__ import annotations

from typing import Any, Final

from api.microversion import MAX_VERSION, MIN_VERSION

UPDATED: Final = "2023-08-31T00:00:00Z"


def v3_version(base_url: str) -> dict[str, Any]:
    """The v3 entry of `{"versions": [...]}`; `base_url` has no trailing slash."""
    return {
        "id": "v3.0",
        "links": [
            {"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
            {"href": f"{base_url}/v3/", "rel": "self"},
        ],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.volume+json;version=3",
            }
        ],
        "min_version": str(MIN_VERSION),
        "status": "CURRENT",
        "updated": UPDATED,
        "version": str(MAX_VERSION),
    }
