"""Manila version discovery (FIELDS.md 2.2): `GET /` (300) and `GET /v2[/]` (200); no token."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.manila.microversion import MAX_VERSION, MIN_VERSION

router = APIRouter(tags=["versions"])

UPDATED: Final = "2015-08-27T11:33:21Z"  # upstream's fixed value


def version_entry(base_url: str, major: int) -> dict[str, Any]:
    """The v1.0 (deprecated, unversioned) or v2.0 (current) entry; no trailing slash in base."""
    current = major == 2
    return {
        "id": f"v{major}.0",
        "status": "CURRENT" if current else "DEPRECATED",
        "version": str(MAX_VERSION) if current else "",
        "min_version": str(MIN_VERSION) if current else "",
        "updated": UPDATED,
        "links": [
            {"href": "http://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
            {"href": f"{base_url}/v{major}/", "rel": "self"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.share+json;version=1"}
        ],
    }


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/")
def list_versions(request: Request) -> JSONResponse:
    """300 Multiple Choices with v1.0 (deprecated) and v2.0 (current); no Location header."""
    base = _base_url(request)
    return JSONResponse(
        {"versions": [version_entry(base, 1), version_entry(base, 2)]}, status_code=300
    )


@router.get("/v2")
@router.get("/v2/")
def show_v2(request: Request) -> JSONResponse:
    """200 with the v2.0 entry only."""
    return JSONResponse({"versions": [version_entry(_base_url(request), 2)]})
