"""Safehold's own admin API (`/v1/...`): rebuilding the catalog from the backup store,
and collecting the store's garbage."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_admin
from api.deps import ContextDep, RunsDep

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/{project_id}", tags=["catalog"])


@router.post(
    "/catalog/rebuild",
    status_code=202,
    summary="Rebuild the catalog from the backup store (admin)",
    responses={403: {"description": "the caller is not an admin"}},
)
def rebuild_catalog(context: ContextDep, runs: RunsDep) -> dict[str, Any]:
    """202 `{"rebuild": {"flow_run_id"}}`: a rebuild-catalog run re-creates the rows of
    every committed backup missing from the catalog (existing rows are left alone)."""
    require_admin(context, "catalog:rebuild")
    # Every call is a new run: a rebuild is idempotent and cheap to repeat.
    run_id = runs.start(
        "rebuild_catalog", resource_id="catalog", attempt=str(uuid.uuid4()), parameters={}
    )
    logger.info("catalog rebuild requested by %s: flow run %s", context.user_id, run_id)
    return {"rebuild": {"flow_run_id": run_id}}


class GarbageRequest(BaseModel):
    """Body of a garbage collection request (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    grace_hours: float = Field(default=24.0, ge=0, le=24 * 365)
    dry_run: bool = False


@router.post(
    "/store/garbage",
    status_code=202,
    summary="Remove backup-store data no catalog row reads (admin)",
    responses={403: {"description": "the caller is not an admin"}},
)
def collect_garbage(
    context: ContextDep, runs: RunsDep, body: GarbageRequest | None = None
) -> dict[str, Any]:
    """202 `{"garbage": {"flow_run_id"}}`: a collect-garbage run removes uncommitted data
    older than ``grace_hours`` that no row reads (``dry_run``: report only); committed
    backups no row reads are reported, never removed."""
    require_admin(context, "store:collect-garbage")
    spec = body or GarbageRequest()
    run_id = runs.start(
        "collect_garbage",
        resource_id="store",
        attempt=str(uuid.uuid4()),
        parameters=spec.model_dump(),
    )
    logger.info("store garbage collection requested by %s: flow run %s", context.user_id, run_id)
    return {"garbage": {"flow_run_id": run_id}}
