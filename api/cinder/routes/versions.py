"""Version discovery: `GET /` (300) and `GET /v3[/]`, `GET /v2[/]` (200); no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.cinder.views.versions import v2_version, v3_version

router = APIRouter(tags=["versions"])


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/")
def list_versions(request: Request) -> JSONResponse:
    """300 Multiple Choices with v3 (current) and v2; no Location header (tempest follows it)."""
    base = _base_url(request)
    return JSONResponse({"versions": [v3_version(base), v2_version(base)]}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def show_v3(request: Request) -> JSONResponse:
    """200 with the v3 entry only."""
    return JSONResponse({"versions": [v3_version(_base_url(request))]})


@router.get("/v2")
@router.get("/v2/")
def show_v2(request: Request) -> JSONResponse:
    """200 with the v2 entry only."""
    return JSONResponse({"versions": [v2_version(_base_url(request))]})
