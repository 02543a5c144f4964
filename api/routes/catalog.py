"""Safehold's own admin API (`/v1/...`): rebuilding the catalog from the backup store."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter

from api.auth import require_admin
from api.deps import ContextDep, RunsDep

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/{project_id}/catalog", tags=["catalog"])


@router.post(
    "/rebuild",
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
