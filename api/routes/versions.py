"""Version discovery: `GET /` (300) and `GET /v3[/]` (200); no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.views.versions import v3_version

router = APIRouter(tags=["versions"])


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/")
def list_versions(request: Request) -> JSONResponse:
    """300 Multiple Choices with the v3 entry; no Location header (tempest follows it)."""
    return JSONResponse({"versions": [v3_version(_base_url(request))]}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def show_v3(request: Request) -> JSONResponse:
    """200 with the v3 entry only."""
    return JSONResponse({"versions": [v3_version(_base_url(request))]})
