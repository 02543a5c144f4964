"""Cascade delete (Safehold extension): a backup and all its descendants in one flow run.

`DELETE /v3/{project_id}/backups/{id}?cascade=true` marks the whole tree `deleting` in
one catalog transaction and starts one delete-backup-tree run that deletes leaves first.
A plain DELETE of the error_deleting root of an interrupted cascade resumes it.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from api.follow import settle
from api.launcher import LaunchError
from api.runs import Runs, flow_name
from storage import catalog
from storage.catalog import Backup, BackupStatus
from storage.catalog.labels import run_tags, subject

logger = logging.getLogger(__name__)

OPERATION = "delete_backup_tree"


def cascade_delete(
    *, session: Session, runs: Runs, backup: Backup, project_id: str | None, asked: bool
) -> bool:
    """Start a cascade when asked, or to resume an interrupted one; False: plain delete."""
    if not asked and backup.status != BackupStatus.ERROR_DELETING:
        return False
    settle_tree(session=session, runs=runs, backup_id=backup.id, project_id=project_id)
    if not asked and not catalog.resumes_cascade(
        session=session, backup_id=backup.id, project_id=project_id
    ):
        return False
    start_cascade(session=session, runs=runs, backup_id=backup.id, project_id=project_id)
    return True


def settle_tree(*, session: Session, runs: Runs, backup_id: str, project_id: str | None) -> None:
    """Repair members left deleting by a run that ended badly, so a new cascade may start."""
    plan = catalog.plan_cascade(session=session, backup_id=backup_id, project_id=project_id)
    rows = [catalog.get_backup(session=session, backup_id=member) for member in plan]
    settle(session=session, runs=runs, rows=rows)


def start_cascade(*, session: Session, runs: Runs, backup_id: str, project_id: str | None) -> str:
    """Mark the tree deleting and start its run; the run id. InvalidStatus, LaunchError.

    If the orchestrator refuses the run, every member goes to error_deleting with the
    reason (a later cascade resumes) and LaunchError propagates (503).
    """
    members = catalog.begin_cascade_delete(
        session=session, backup_id=backup_id, project_id=project_id
    )
    root = members[-1]
    ids = [b.id for b in members]
    try:
        run_id = runs.start(
            OPERATION,
            resource_id=root.id,
            attempt=root.op_token or root.id,
            parameters={"backup_id": root.id, "backup_ids": ids},
            name=f"{flow_name(OPERATION)} {subject(session, root)} cascade of {len(ids)}",
            tags=run_tags(root),
        )
    except LaunchError:
        reason = f"could not start {flow_name(OPERATION)}: the orchestrator is unavailable"
        logger.warning("backup %s: cascade of %d: %s", root.id, len(ids), reason)
        _fail_all(session, members, reason)
        raise
    catalog.attach_cascade_run(session=session, backup_ids=ids, flow_run_id=run_id)
    logger.info("backup %s: deleting with %d descendants, run %s", root.id, len(ids) - 1, run_id)
    return run_id


def _fail_all(session: Session, members: list[Backup], reason: str) -> None:
    for member in members:
        catalog.repair_after_run(session=session, record=member, reason=reason)
