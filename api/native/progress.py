"""Safehold's own progress view (`/v1/...`): bytes moved by a backup's running operation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ContextDep, RunsDep, SessionDep
from api.follow import visible_row
from api.views.reasons import shown_reason
from storage.catalog import Backup, BackupStatus

router = APIRouter(prefix="/v1/{project_id}/backups", tags=["progress"])

# Which operation a status means; progress of settled backups is the last one's.
OPERATIONS = {
    BackupStatus.CREATING: "backup",
    BackupStatus.RESTORING: "restore",
    BackupStatus.DELETING: "delete",
}


def progress_view(backup: Backup, *, admin: bool) -> dict[str, Any]:
    """The progress body of one backup (percent is None while the total is unknown)."""
    total = backup.progress_total
    return {
        "id": backup.id,
        "status": backup.status,
        "operation": OPERATIONS.get(BackupStatus(backup.status)),
        "bytes_done": backup.progress_done,
        "bytes_total": total,
        "percent": round(100.0 * backup.progress_done / total, 1) if total else None,
        "flow_run_id": backup.flow_run_id,
        "fail_reason": shown_reason(backup.fail_reason, admin=admin),
    }


@router.get(
    "/{backup_id}/progress",
    summary="Progress of the backup's current (or last) data movement",
    responses={404: {"description": "no such backup in the project"}},
)
def backup_progress(
    backup_id: str, context: ContextDep, session: SessionDep, runs: RunsDep
) -> dict[str, Any]:
    """`{"progress": {...}}`; a run that ended badly is settled first, as in show."""
    backup = visible_row(Backup, backup_id, context=context, session=session, runs=runs)
    return {"progress": progress_view(backup, admin=context.is_admin)}
