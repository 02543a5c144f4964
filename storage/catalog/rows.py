"""Row access every resource shares: the project-scoped lookup and the stamped save."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session

from storage.catalog.db_models import DbBackup, DbInstance
from storage.catalog.models import Backup, Snapshot, Volume, utcnow
from storage.catalog.policy_models import Policy
from storage.catalog.share_models import Share, ShareBackup
from storage.errors import RecordNotFound

R = TypeVar("R", Backup, Snapshot, Volume, Share, ShareBackup, DbInstance, DbBackup, Policy)


def get_owned(session: Session, model: type[R], record_id: str, project_id: str | None) -> R:
    """The row; RecordNotFound when it is missing or (project_id given) another project's."""
    row = session.get(model, record_id)
    if row is None or (project_id is not None and row.project_id != project_id):
        raise RecordNotFound(model.__name__, record_id)
    return row


def save_edit(session: Session, row: R) -> R:
    """Commit an edit made outside a status transition, stamping updated_at; the fresh row."""
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row
