"""Deleting a backup together with every backup that depends on it (leaves first).

A child's manifest may reference segments of any ancestor, so a backup's data may go only
when it has no descendants left: a cascade deletes each backup after all of its own
descendants. The API marks the whole tree `deleting` in one transaction; the
delete-backup-tree flow then deletes member by member and the hooks put whatever is
left into `error_deleting`, from where a new cascade (or a plain DELETE of the root,
see resumes_cascade) finishes the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.catalog.backups import fail_operation, get_backup
from storage.catalog.chains import child_ids
from storage.catalog.models import Backup, BackupStatus, utcnow
from storage.errors import InvalidRequest, InvalidStatus

B = BackupStatus
DELETABLE = frozenset({B.AVAILABLE, B.ERROR, B.ERROR_DELETING})


def plan_cascade(*, session: Session, backup_id: str, project_id: str | None) -> list[str]:
    """Ids of the backup and all its descendants, each after its own descendants.

    The root comes last. RecordNotFound when the root is missing or belongs to another
    project (None: any project); InvalidRequest when a descendant belongs to another
    project (a cascade never crosses projects). Reads only; changes nothing.
    """
    get_backup(session=session, backup_id=backup_id, project_id=project_id)
    order: list[str] = []
    seen = {backup_id}
    stack: list[tuple[str, bool]] = [(backup_id, False)]
    # Iterative post-order: chains can be thousands of backups deep.
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        for child in _children_in(session, node, project_id):
            if child not in seen:
                seen.add(child)
                stack.append((child, False))
    return order


def _children_in(session: Session, backup_id: str, project_id: str | None) -> list[str]:
    """Child ids of a backup; InvalidRequest if any belongs to another project."""
    children = child_ids(session=session, backup_id=backup_id)
    if project_id is not None and children:
        stmt = select(Backup.id).where(
            col(Backup.id).in_(children), col(Backup.project_id) != project_id
        )
        if session.exec(stmt).first() is not None:
            raise InvalidRequest(
                f"Invalid backup: backups of another project depend on backup {backup_id}; "
                "an admin must delete them first (all_tenants)."
            )
    return children


def _rows(session: Session, ids: Sequence[str]) -> dict[str, Backup]:
    stmt = select(Backup).where(col(Backup.id).in_(list(ids)))
    return {b.id: b for b in session.exec(stmt)}


def begin_cascade_delete(
    *, session: Session, backup_id: str, project_id: str | None
) -> list[Backup]:
    """Move the backup and all its descendants to deleting at once; leaves first.

    InvalidStatus (nothing changed) when any member is not available, error or
    error_deleting, or when a child appeared while the tree was being marked.
    """
    plan = plan_cascade(session=session, backup_id=backup_id, project_id=project_id)
    rows = _rows(session, plan)
    for member in plan:
        status = rows[member].status
        if status not in DELETABLE:
            raise InvalidStatus(
                f"Invalid backup: Backup {member} in the cascade is {status}; every backup "
                "to delete must be available, error or error_deleting."
            )
    table: Any = Backup
    stmt = (
        update(table)
        .where(col(table.id).in_(plan), col(table.status).in_(list(DELETABLE)))
        .values(
            status=B.DELETING,
            op_token=str(uuid.uuid4()),
            flow_run_id=None,  # a new operation: no earlier run may settle it
            fail_reason=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    result: Any = session.exec(stmt)
    # The UPDATE holds the rows (PostgreSQL) or the database (SQLite): a child created
    # concurrently is either visible to this second plan or will find its parent deleting.
    again = plan_cascade(session=session, backup_id=backup_id, project_id=project_id)
    if result.rowcount != len(plan) or set(again) != set(plan):
        session.rollback()
        raise InvalidStatus(
            f"Invalid backup: Backups depending on {backup_id} changed while the delete "
            "was being planned; try again."
        )
    session.commit()
    rows = _rows(session, plan)
    return [rows[member] for member in plan]


def resumes_cascade(*, session: Session, backup_id: str, project_id: str | None) -> bool:
    """True when the backup is the error_deleting root of an interrupted cascade.

    A plain delete is refused while descendants exist, and an error_deleting backup
    gets no new children, so an error_deleting backup whose descendants are all
    error_deleting can only be what a failed cascade left behind.
    """
    plan = plan_cascade(session=session, backup_id=backup_id, project_id=project_id)
    if len(plan) < 2:
        return False
    return all(b.status == B.ERROR_DELETING for b in _rows(session, plan).values())


def attach_cascade_run(*, session: Session, backup_ids: Sequence[str], flow_run_id: str) -> None:
    """Record the one flow run that drives every member of a cascade."""
    table: Any = Backup
    stmt = (
        update(table)
        .where(col(table.id).in_(list(backup_ids)))
        .values(flow_run_id=flow_run_id)
        .execution_options(synchronize_session=False)
    )
    session.exec(stmt)
    session.commit()


def fail_cascade(
    *, session: Session, backup_ids: Sequence[str], flow_run_id: str, reason: str
) -> list[str]:
    """Move the members this run still drives to error_deleting; the ids moved. Idempotent.

    Members already deleted, already failed, or taken over by a newer run are left alone.
    """
    failed = []
    for member in backup_ids:
        row = session.get(Backup, member)
        if row is None or row.flow_run_id not in (None, flow_run_id):
            continue
        if fail_operation(session=session, backup_id=member, reason=reason):
            failed.append(member)
    return failed


def ready_to_delete(*, session: Session, backup_id: str) -> bool:
    """Check that the backup's data may go now; False if its row is already gone.

    InvalidStatus unless the backup is deleting and no backup names it as parent: the
    last line of defence against deleting segments a descendant still references.
    """
    backup = session.get(Backup, backup_id)
    if backup is None:
        return False
    if backup.status != B.DELETING:
        raise InvalidStatus(f"Backup {backup_id} is {backup.status}, not deleting.")
    children = child_ids(session=session, backup_id=backup_id)
    if children:
        raise InvalidStatus(
            f"Backup {backup_id} still has incremental backups: {', '.join(children)}."
        )
    return True
