"""Cinder backup update (PUT, mv 3.9) and the admin actions os-reset_status, os-force_delete.

FIELDS.md 3.2, 3.4 and 7: update is the owner's (or an admin's) and leaves the status
alone; the two actions are admin-only and may override a running operation, which is
ended first (see storage.catalog.backup_admin) — except that a backup whose create run
is still live is not force-deleted (400; docs/api.md).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Response
from sqlmodel import Session

from api.actions import no_such_action, one_action
from api.auth import Context, require_admin, visible_project
from api.cinder.schemas import BackupResetStatus, BackupUpdateBody, parse_value, reject_unless
from api.cinder.views.backups import backup_summary
from api.deps import ContextDep, RunsDep, SessionDep, SettingsDep, VersionDep, ViewDep
from api.faults import Fault
from api.follow import settled
from api.microversion import APIVersion
from api.runs import Runs, launch
from api.stored import committed
from storage import catalog
from storage.catalog import Backup, BackupStatus
from storage.catalog.lifecycle import BACKUP_TRANSITIONAL
from storage.settings import Settings

logger = logging.getLogger(__name__)

# Mounted under /v3 and /v2 by api.cinder.trees.include_cinder.
router = APIRouter(prefix="/{project_id}/backups", tags=["backups"])

UPDATE_SINCE: Final = APIVersion(3, 9)
RESET_POLICY: Final = "volume_extension:backup_admin_actions:reset_status"
FORCE_DELETE_POLICY: Final = "volume_extension:backup_admin_actions:force_delete"


def _update_exists(version: VersionDep) -> None:
    # Before 3.9 (and on v2) the method does not exist: Cinder answers a generic 404,
    # before it looks at the body.
    if version < UPDATE_SINCE:
        raise Fault(404, "The resource could not be found.")


def _stripped(value: str | None) -> str | None:
    return value.strip() if value is not None else None


@router.put("/{backup_id}", dependencies=[Depends(_update_exists)])
def update_backup(
    backup_id: str,
    body: BackupUpdateBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
) -> dict[str, Any]:
    """200 with the summary; name/description (trimmed) and metadata (whole) in any status."""
    spec = body.backup
    reject_unless(spec, "backup", view.version, {"metadata": (3, 43)})
    changes: dict[str, Any] = {}
    if "name" in spec.model_fields_set:
        changes["name"] = _stripped(spec.name)
    if "description" in spec.model_fields_set:
        changes["description"] = _stripped(spec.description)
    if "metadata" in spec.model_fields_set:
        changes["meta"] = dict(spec.metadata or {})
    backup = catalog.update_backup(
        session=session,
        backup_id=backup_id,
        project_id=visible_project(context),
        changes=changes,
    )
    logger.info("backup %s: updated %s", backup.id, sorted(changes))
    return {"backup": backup_summary(backup, view)}


@router.post("/{backup_id}/action", status_code=202, response_class=Response)
def backup_action(
    backup_id: str,
    body: Annotated[dict[str, Any], Body()],
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
    settings: SettingsDep,
) -> Response:
    """202, empty: `os-reset_status` (to available/error) or `os-force_delete`; admin only.

    Reset to available is refused (400) unless the backup's data is committed in the store.
    """
    action, value = one_action(body)
    if action == "os-reset_status":
        require_admin(context, RESET_POLICY)
        spec = parse_value(BackupResetStatus, value, action)
        _reset_status(backup_id, spec.status, context, session, runs, settings)
    elif action == "os-force_delete":
        require_admin(context, FORCE_DELETE_POLICY)
        _force_delete(backup_id, context, session, runs)
    else:
        raise no_such_action(action)
    return Response(status_code=202)


def _settle(session: Session, runs: Runs, backup_id: str) -> None:
    # A run that already died is recorded as such (its own fail_reason, the volume it
    # held released) before the override looks at the status.
    settled(session=session, runs=runs, model=Backup, record_id=backup_id, project_id=None)


def _live_run(session: Session, backup_id: str) -> str | None:
    """The run driving the backup's current transition, if it is in one."""
    backup = catalog.get_backup(session=session, backup_id=backup_id)
    return backup.flow_run_id if backup.status in BACKUP_TRANSITIONAL else None


def _reset_status(
    backup_id: str, status: str, context: Context, session: Session, runs: Runs, settings: Settings
) -> None:
    _settle(session, runs, backup_id)
    if status.lower() == BackupStatus.AVAILABLE:
        # An admin's word is not enough for "available": its data must be committed.
        row = catalog.get_backup(session=session, backup_id=backup_id)
        committed(settings, backup_id=backup_id, data_id=row.data_id)
    live = _live_run(session, backup_id)
    backup = catalog.reset_backup_status(session=session, backup_id=backup_id, status=status)
    logger.warning("backup %s: status reset to %s by %s", backup.id, backup.status, context.user_id)
    # The row is no longer the run's: it stops at its next check; cancelling shows why.
    runs.cancel(live, f"backup {backup_id}: status reset to {status} by an administrator")


def _force_delete(backup_id: str, context: Context, session: Session, runs: Runs) -> None:
    _settle(session, runs, backup_id)
    live = _live_run(session, backup_id)
    backup = catalog.begin_backup_force_delete(session=session, backup_id=backup_id)
    logger.warning("backup %s: force-deleted by %s", backup.id, context.user_id)
    runs.cancel(live, f"backup {backup_id}: force-deleted by an administrator")
    launch(session=session, runs=runs, operation="delete_backup", record=backup)
