"""Keyword-only catalog functions for share backups: guards, transitions, queries.

A backup holds its share in backup_creating, a restore holds the target share in
backup_restoring (FIELDS.md 11.2); `fail_share_backup` settles both when a run ends
badly. Each function commits exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlmodel import Session, col, select

from storage.catalog import lifecycle
from storage.catalog.cas import compare_and_set, require
from storage.catalog.ownership import owner_where, owns, require_deleting
from storage.catalog.paging import list_page
from storage.catalog.rows import get_owned, save_edit
from storage.catalog.share_models import Share, ShareBackup, ShareBackupStatus, ShareStatus
from storage.catalog.shares import get_share, hold_share, refuse_busy
from storage.errors import InvalidRequest, InvalidStatus

SB, SH = ShareBackupStatus, ShareStatus
GIB = 1024**3
SORT_KEYS = {
    "id": "id",
    "status": "status",
    "size": "size",
    "host": "host",
    "share_id": "share_id",
    "availability_zone": "availability_zone",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "display_name": "name",
    "name": "name",
    "description": "description",
    "display_description": "description",
    "topic": "topic",
    "progress": "progress",
    "restore_progress": "restore_progress",
    "project_id": "project_id",
}
FILTER_KEYS = frozenset({"share_id", "name", "description", "status", "host", "topic"})
# Statuses reset_status accepts (Manila's share backup view of the admin action).
RESET_STATUSES = frozenset(
    {
        "creating",
        "available",
        "deleting",
        "error",
        "error_deleting",
        "restoring",
        "migrating",
        "migrating_to",
        "server_migrating",
    }
)
# backup_options keys a user sets to force a full backup (docs/api.md).
FULL_OPTION = "full"
TRUE_WORDS = frozenset({"true", "1", "yes", "on", "t", "y"})


def begin_share_backup(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    share_id: str,
    name: str | None = None,
    description: str | None = None,
    options: Mapping[str, Any] | None = None,
    policy_id: str | None = None,
) -> ShareBackup:
    """Hold the share in backup_creating and insert the backup as creating.

    Incremental against the share's newest available backup unless ``options`` asks for
    a full one. InvalidRequest for a missing share; ResourceBusy while another backup or
    restore holds it; InvalidStatus from any other status than available.
    """
    share = get_share(session=session, share_id=share_id, project_id=project_id)
    refuse_busy(share)
    hold_share(
        session=session,
        share=share,
        to=SH.BACKUP_CREATING,
        refused=f"Share {share_id} status must be 'available', but it is '{share.status}'.",
    )
    wants_full = str((options or {}).get(FULL_OPTION, "")).lower() in TRUE_WORDS
    parent = None if wants_full else newest_available(session=session, share_id=share_id)
    backup = ShareBackup(
        id=str(uuid.uuid4()),
        project_id=project_id,
        user_id=user_id,
        share_id=share_id,
        parent_id=parent.id if parent is not None else None,
        name=name,
        description=description,
        size=share.size,
        availability_zone=share.availability_zone,
        options=dict(options or {}),
        op_token=str(uuid.uuid4()),
        policy_id=policy_id,
    )
    session.add(backup)
    session.commit()
    session.refresh(backup)
    return backup


def newest_available(*, session: Session, share_id: str) -> ShareBackup | None:
    """The share's newest available backup: the base of its next incremental."""
    stmt = (
        select(ShareBackup)
        .where(ShareBackup.share_id == share_id, ShareBackup.status == SB.AVAILABLE)
        .order_by(col(ShareBackup.created_at).desc(), col(ShareBackup.id).desc())
    )
    return session.exec(stmt).first()


def get_share_backup(
    *, session: Session, backup_id: str, project_id: str | None = None
) -> ShareBackup:
    """Return the backup; RecordNotFound if missing or owned by another project."""
    return get_owned(session, ShareBackup, backup_id, project_id)


def list_share_backups(
    *,
    session: Session,
    project_id: str | None,
    filters: Mapping[str, str] | None = None,
    sort: Sequence[tuple[str, str]] = (("created_at", "desc"),),
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[ShareBackup], int]:
    """One page of share backups and the total count; InvalidRequest on bad keys."""
    return list_page(
        session,
        ShareBackup,
        project_id=project_id,
        clauses=[_filter(key, value) for key, value in (filters or {}).items()],
        sort_keys=SORT_KEYS,
        sort=sort,
        limit=limit,
        offset=offset,
    )


def _filter(key: str, value: str) -> Any:
    if key in ("name~", "description~"):
        return col(getattr(ShareBackup, key[:-1])).icontains(value, autoescape=True)
    if key not in FILTER_KEYS:
        raise InvalidRequest(f"Invalid filter key: {key}")
    return col(getattr(ShareBackup, key)) == value


def update_share_backup(
    *, session: Session, backup_id: str, project_id: str | None, changes: Mapping[str, Any]
) -> ShareBackup:
    """Rename or re-describe a backup; RecordNotFound for another project's."""
    backup = get_share_backup(session=session, backup_id=backup_id, project_id=project_id)
    for key in ("name", "description"):
        if key in changes:
            setattr(backup, key, changes[key])
    return save_edit(session, backup)


def begin_share_backup_delete(
    *, session: Session, backup_id: str, project_id: str | None
) -> ShareBackup:
    """available/error -> deleting; InvalidStatus otherwise, and while a backup being
    created reads it as its parent (its data must stay until that one commits)."""
    backup = get_share_backup(session=session, backup_id=backup_id, project_id=project_id)
    if _children_creating(session, backup_id):
        raise InvalidStatus(
            f"Share backup {backup_id} is the base of a backup being created; "
            "delete it once that backup is available."
        )
    changed = compare_and_set(
        session,
        ShareBackup,
        backup_id,
        to=SB.DELETING,
        expected={SB.AVAILABLE, SB.ERROR, SB.ERROR_DELETING},
        op_token=str(uuid.uuid4()),
        flow_run_id=None,
        fail_reason=None,
    )
    require(changed, f"Backup {backup_id} status must be available or error.")
    session.commit()
    session.refresh(backup)
    return backup


def _children_creating(session: Session, backup_id: str) -> bool:
    stmt = select(ShareBackup.id).where(
        ShareBackup.parent_id == backup_id, ShareBackup.status == SB.CREATING
    )
    return session.exec(stmt).first() is not None


def begin_share_restore(
    *,
    session: Session,
    backup_id: str,
    project_id: str | None,
    target_share_id: str | None = None,
) -> ShareBackup:
    """Backup available -> restoring, target share -> backup_restoring; one commit.

    The target is the source share unless named. InvalidStatus unless the backup is
    available and the target available (or backup_restoring_error: a retry), is not
    smaller than the backup; ResourceBusy while another operation holds the target.
    """
    backup = get_share_backup(session=session, backup_id=backup_id, project_id=project_id)
    share = get_share(
        session=session, share_id=target_share_id or backup.share_id, project_id=project_id
    )
    if backup.status != SB.AVAILABLE:
        raise InvalidStatus(f"Share backup {backup_id} status must be 'available'.")
    if share.size < backup.size:
        raise InvalidRequest(
            f"Share size {share.size} GiB is smaller than the backup's size "
            f"{backup.size} GiB: restore refused."
        )
    refuse_busy(share)
    hold_share(
        session=session,
        share=share,
        to=SH.BACKUP_RESTORING,
        refused=f"Share {share.id} status must be 'available', but it is '{share.status}'.",
    )
    changed = compare_and_set(
        session,
        ShareBackup,
        backup_id,
        to=SB.RESTORING,
        expected={SB.AVAILABLE},
        restore_share_id=share.id,
        op_token=str(uuid.uuid4()),
        flow_run_id=None,
        fail_reason=None,
        restore_progress="0",
        progress_done=0,
        progress_total=backup.size_bytes,
    )
    if not changed:
        session.rollback()  # the share's hold above must not stick
        raise InvalidStatus(f"Share backup {backup_id} status must be 'available'.")
    session.commit()
    session.refresh(backup)
    return backup


def finish_share_backup(
    *, session: Session, backup_id: str, result: Mapping[str, Any], run_ids: Collection[str] = ()
) -> bool:
    """creating -> available with the stored sizes, share released; idempotent; False
    when the backup was settled by another path (or another run drives it)."""
    backup = get_share_backup(session=session, backup_id=backup_id)
    size_bytes = int(result["size_bytes"])
    changed = compare_and_set(
        session,
        ShareBackup,
        backup_id,
        to=SB.AVAILABLE,
        expected={SB.CREATING},
        where=owner_where(ShareBackup, run_ids),
        object_count=int(result["object_count"]),
        stored_bytes=int(result["stored_bytes"]),
        size_bytes=size_bytes,
        # Manila's size: GiB the backup needs on a target share (at least the share's).
        size=max(backup.size, -(-size_bytes // GIB)),
        stats=dict(result.get("stats", {})),
        progress="100",
        progress_done=size_bytes,
        progress_total=size_bytes,
        fail_reason=None,
    )
    if changed:
        _release(session, backup.share_id, SH.BACKUP_CREATING, SH.AVAILABLE)
    session.commit()
    return changed


def finish_share_restore(
    *, session: Session, backup_id: str, run_ids: Collection[str] = ()
) -> bool:
    """restoring -> available, target share -> available; idempotent."""
    backup = get_share_backup(session=session, backup_id=backup_id)
    changed = compare_and_set(
        session,
        ShareBackup,
        backup_id,
        to=SB.AVAILABLE,
        expected={SB.RESTORING},
        where=owner_where(ShareBackup, run_ids),
        restore_progress="100",
        progress_done=backup.progress_total,
    )
    if changed and backup.restore_share_id:
        _release(session, backup.restore_share_id, SH.BACKUP_RESTORING, SH.AVAILABLE)
    session.commit()
    return changed


def _release(session: Session, share_id: str, held: str, to: str, **values: Any) -> None:
    compare_and_set(session, Share, share_id, to=to, expected={held}, **values)


def fail_share_backup(
    *, session: Session, backup_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Settle a backup whose run ended badly, and the share it held; no-op (False) when
    it is not transitional or (with ``run_ids``) another run drives it."""
    backup = session.get(ShareBackup, backup_id)
    if backup is None or backup.status not in lifecycle.SHARE_BACKUP_TRANSITIONAL:
        return False
    if run_ids and not owns(backup, lifecycle.SHARE_BACKUP_TRANSITIONAL, run_ids):
        return False
    status = backup.status
    changed = compare_and_set(
        session,
        ShareBackup,
        backup_id,
        to=lifecycle.share_backup_failure_status(status),
        expected={status},
        fail_reason=reason,
    )
    if status == SB.CREATING:
        _release(session, backup.share_id, SH.BACKUP_CREATING, SH.AVAILABLE)
    elif status == SB.RESTORING and backup.restore_share_id:
        _release(
            session,
            backup.restore_share_id,
            SH.BACKUP_RESTORING,
            SH.BACKUP_RESTORING_ERROR,
            fail_reason=reason,
        )
    session.commit()
    return changed


def finish_share_backup_delete(
    *, session: Session, backup_id: str, run_ids: Collection[str] = ()
) -> None:
    """Remove a deleted backup's row; idempotent; LostOwnership (with ``run_ids``) unless
    it is deleting by one of those runs."""
    require_deleting(session=session, model=ShareBackup, record_id=backup_id, run_ids=run_ids)
    backup = session.get(ShareBackup, backup_id)
    if backup is not None:
        session.delete(backup)
        session.commit()


def reset_share_backup_status(*, session: Session, backup_id: str, status: str) -> ShareBackup:
    """Admin override: any status Manila's reset_status accepts; InvalidRequest else.

    A backup reset out of creating or restoring lets go of the share its run held (to
    available, or backup_restoring_error: a restore may have been partly applied)."""
    if status not in RESET_STATUSES:
        raise InvalidRequest(f"Invalid status: {status}")
    backup = get_share_backup(session=session, backup_id=backup_id)
    if status != backup.status:
        if backup.status == SB.CREATING:
            _release(session, backup.share_id, SH.BACKUP_CREATING, SH.AVAILABLE)
        elif backup.status == SB.RESTORING and backup.restore_share_id:
            _release(
                session,
                backup.restore_share_id,
                SH.BACKUP_RESTORING,
                SH.BACKUP_RESTORING_ERROR,
                fail_reason=f"the restore of backup {backup_id} was reset to {status}",
            )
    backup.status = status
    return save_edit(session, backup)


def share_backup_for_run(*, session: Session, share: Share) -> ShareBackup | None:
    """The backup whose run holds ``share`` in backup_creating or backup_restoring."""
    if share.status == SH.BACKUP_CREATING:
        stmt = select(ShareBackup).where(
            ShareBackup.share_id == share.id, ShareBackup.status == SB.CREATING
        )
    elif share.status == SH.BACKUP_RESTORING:
        stmt = select(ShareBackup).where(
            ShareBackup.restore_share_id == share.id, ShareBackup.status == SB.RESTORING
        )
    else:
        return None
    return session.exec(stmt).first()


def note_progress(backup: ShareBackup) -> None:
    """Copy done/total into the percentage of the operation that is moving bytes."""
    if backup.progress_total <= 0:
        return
    percent = str(min(100, 100 * backup.progress_done // backup.progress_total))
    if backup.status == SB.RESTORING:
        backup.restore_progress = percent
    elif backup.status == SB.CREATING:
        backup.progress = percent
