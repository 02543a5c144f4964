"""Owner and admin changes to a backup outside its flows: update, reset status, force delete.

Reset status and force delete may hit a backup whose run is still working on it. They
first end that operation as a failed run would (`fail_operation`: the volume it held goes
back, a restore target is marked failed), so nothing stays held after the override; the
run's own finishing steps are compare-and-sets and become no-ops.

Force delete refuses one case Cinder allows: a backup still `creating`. Its run may be
writing objects under the backup's prefix, and a delete racing it would leave orphans in
the store (a committed manifest even, which a catalog rebuild would bring back). A dead
run is settled to `error` by the API before this guard, and a hung one can be cancelled
in Prefect (its hook then sets `error`); either way the backup becomes deletable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlmodel import Session

from storage.catalog import lifecycle
from storage.catalog.backups import (
    fail_operation,
    get_backup,
    mark_deleting,
    refuse_with_dependents,
)
from storage.catalog.cas import compare_and_set, require
from storage.catalog.models import Backup, BackupStatus
from storage.catalog.rows import save_edit
from storage.errors import InvalidRequest, InvalidStatus

B = BackupStatus
UPDATABLE: Final = frozenset({"name", "description", "meta"})
# Cinder's backup reset-status schema accepts only these two targets.
RESETTABLE: Final = frozenset({B.AVAILABLE, B.ERROR})


def update_backup(
    *, session: Session, backup_id: str, project_id: str | None, changes: Mapping[str, Any]
) -> Backup:
    """Set name, description and/or meta (replaced whole) in any status; commits once.

    RecordNotFound for a missing or foreign backup; ValueError for other keys.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    backup = get_backup(session=session, backup_id=backup_id, project_id=project_id)
    for key, value in changes.items():
        setattr(backup, key, dict(value) if key == "meta" else value)
    return save_edit(session, backup)


def _end_running_operation(session: Session, backup: Backup, why: str) -> None:
    # Commits on its own: the terminal state it leaves is consistent even if the
    # caller's next compare-and-set loses a race.
    if backup.status in lifecycle.BACKUP_TRANSITIONAL:
        fail_operation(session=session, backup_id=backup.id, reason=why)
        session.refresh(backup)


def reset_backup_status(*, session: Session, backup_id: str, status: str) -> Backup:
    """Admin override to available or error, from any status, bypassing the table.

    InvalidRequest for another target; RecordNotFound for a missing backup. A running
    operation is ended first (its held volume released, fail_reason recorded); going to
    available clears fail_reason.
    """
    target = status.lower()
    if target not in RESETTABLE:
        raise InvalidRequest(f"Invalid backup status to reset to: {status}.")
    backup = get_backup(session=session, backup_id=backup_id)
    was = backup.status
    _end_running_operation(session, backup, f"status reset from {was} by an administrator")
    values: dict[str, Any] = {"fail_reason": None} if target == B.AVAILABLE else {}
    changed = compare_and_set(
        session, Backup, backup_id, to=target, expected={backup.status}, **values
    )
    require(changed, f"Invalid backup: status changed while resetting it to {target}.")
    session.commit()
    session.refresh(backup)
    return backup


def begin_backup_force_delete(*, session: Session, backup_id: str) -> Backup:
    """Move a backup in any status but creating to deleting, with a new attempt token.

    InvalidStatus while creating (see the module docstring); InvalidRequest while
    incremental children exist (Cinder refuses those even when forced); RecordNotFound
    for a missing backup. A running restore or delete is ended first.
    """
    backup = get_backup(session=session, backup_id=backup_id)
    if backup.status == B.CREATING:
        run = backup.flow_run_id or "(not recorded yet)"
        raise InvalidStatus(
            f"Invalid backup: backup {backup_id} is still being created by flow run {run}; "
            "wait for it to end or cancel it, then delete the backup."
        )
    refuse_with_dependents(session=session, backup=backup)
    _end_running_operation(session, backup, "force-deleted by an administrator")
    return mark_deleting(
        session=session,
        backup=backup,
        expected={backup.status},
        refused="Invalid backup: status changed while force-deleting it.",
    )
