"""`POST /share-backups/{id}/action`: restore (owner or admin) and reset_status (admin).

Restore goes into the backup's own share; from 2.91 the body may name another share
(`{"restore": "<share id>"}` as python-manilaclient sends it, or
`{"restore": {"target_share_id": id}}`); below 2.91 a target is refused (400).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.actions import no_such_action, one_action
from api.auth import Context, require_admin, visible_project
from api.deps import ContextDep, RunsDep, SessionDep
from api.faults import Fault
from api.follow import settled
from api.manila.microversion import request_version, require_share_backups
from api.manila.routes.share_backups import known_backup
from api.manila.schemas import RestoreTarget, StatusValue, parse_value
from api.microversion import APIVersion
from api.runs import Runs, launch
from storage.catalog import Share, share_backups
from storage.catalog.lifecycle import SHARE_BACKUP_TRANSITIONAL
from storage.errors import RecordNotFound, ResourceBusy

logger = logging.getLogger(__name__)

# Mounted under /v2 with and without the project segment by api.manila.app.
router = APIRouter(
    prefix="/{project_id}/share-backups",
    tags=["share backups"],
    dependencies=[Depends(require_share_backups)],
)

TARGETED_RESTORE_SINCE: Final = APIVersion(2, 91)
RESET_POLICY: Final = "share_backup:reset_status"


@router.post("/{backup_id}/action", status_code=202, response_model=None)
def share_backup_action(
    backup_id: str,
    request: Request,
    body: Annotated[dict[str, Any], Body()],
    context: ContextDep,
    session: SessionDep,
    runs: RunsDep,
) -> JSONResponse | Response:
    """`restore` -> 202 `{"restore": {backup_id, share_id}}`; `reset_status` (admin) ->
    202, empty."""
    action, value = one_action(body)
    if action == "restore":
        target = restore_target(value, request_version(request))
        share_id = _restore(backup_id, target, context, session, runs)
        return JSONResponse(
            {"restore": {"backup_id": backup_id, "share_id": share_id}}, status_code=202
        )
    if action in ("reset_status", "os-reset_status"):
        require_admin(context, RESET_POLICY)
        spec = parse_value(StatusValue, value, action)
        _reset_status(backup_id, spec.status, context, session, runs)
        return Response(status_code=202)
    raise no_such_action(action)


def restore_target(value: Any, version: APIVersion) -> str | None:
    """The share a restore body names (None: the backup's own); 400 for a target below
    2.91 or a value of the wrong kind."""
    if isinstance(value, str):
        target: str | None = value or None
    elif isinstance(value, dict):
        target = parse_value(RestoreTarget, value, "restore").target_share_id
    elif value is None:
        target = None
    else:
        raise Fault(400, "Invalid restore: the value must be null, a share id or an object.")
    if target is not None and version < TARGETED_RESTORE_SINCE:
        raise Fault(
            400,
            f"Restoring into another share needs microversion {TARGETED_RESTORE_SINCE} "
            f"or later (requested {version}).",
        )
    return target


def _restore(
    backup_id: str, target: str | None, context: Context, session: Session, runs: Runs
) -> str:
    """Hold the target share and mark the backup restoring, start the run; the target id."""
    project = visible_project(context)
    backup = known_backup(session, runs, backup_id, project)
    # A run that died holding the target must not keep it busy: settle it first.
    try:
        settled(
            session=session,
            runs=runs,
            model=Share,
            record_id=target or backup.share_id,
            project_id=project,
        )
    except RecordNotFound:
        raise Fault(404, f"No share exists with ID {target or backup.share_id}.") from None
    try:
        backup = share_backups.begin_share_restore(
            session=session, backup_id=backup_id, project_id=project, target_share_id=target
        )
    except ResourceBusy as exc:
        raise Fault(400, str(exc)) from None  # Manila: the share is not available (400)
    share_id = backup.restore_share_id or backup.share_id
    logger.info("share backup %s: restoring into share %s", backup.id, share_id)
    launch(
        session=session,
        runs=runs,
        operation="restore_share_backup",
        record=backup,
        parameters={"backup_id": backup.id, "share_id": share_id},
    )
    return share_id


def _reset_status(
    backup_id: str, status: str, context: Context, session: Session, runs: Runs
) -> None:
    current = known_backup(session, runs, backup_id, None)
    previous = current.status
    moving = previous in SHARE_BACKUP_TRANSITIONAL and previous != status
    live = current.flow_run_id if moving else None
    backup = share_backups.reset_share_backup_status(
        session=session, backup_id=backup_id, status=status
    )
    logger.warning(
        "share backup %s: status reset from %s to %s by %s",
        backup.id,
        previous,
        status,
        context.user_id,
    )
    # The row is no longer the run's: it stops at its next check; cancelling shows why.
    runs.cancel(live, f"share backup {backup_id}: status reset to {status} by an administrator")
