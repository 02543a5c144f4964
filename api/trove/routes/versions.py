"""Trove version discovery (FIELDS.md 2.3): `GET /` lists v1.0; no token, no microversions."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request

router = APIRouter(tags=["versions"])
UPDATED: Final = "2012-08-01T00:00:00Z"  # upstream's fixed value


def version_entry(base_url: str) -> dict[str, Any]:
    """The one version Trove serves."""
    return {
        "id": "v1.0",
        "links": [{"href": f"{base_url}/v1.0/", "rel": "self"}],
        "status": "CURRENT",
        "updated": UPDATED,
    }


@router.get("/")
def list_versions(request: Request) -> dict[str, Any]:
    """200 `{"versions": [v1.0]}`."""
    return {"versions": [version_entry(str(request.base_url).rstrip("/"))]}


@router.get("/v1.0")
@router.get("/v1.0/")
def show_version(request: Request) -> dict[str, Any]:
    """200 `{"version": v1.0}`."""
    return {"version": version_entry(str(request.base_url).rstrip("/"))}
