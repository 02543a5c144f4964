"""Keyword-only catalog functions for backups: guards, transitions, queries.

`begin_*` functions are the API's guard-and-transition steps; `finish_*` and
`fail_operation` are the flows' terminal steps. Each commits exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.catalog import chains, lifecycle
from storage.catalog.backup_filters import filter_clause
from storage.catalog.cas import compare_and_set, require
from storage.catalog.db_models import DbBackup
from storage.catalog.models import Backup, BackupStatus, Snapshot, Volume, VolumeStatus
from storage.catalog.ownership import owner_where, owns, require_deleting
from storage.catalog.paging import list_page
from storage.catalog.rows import get_owned
from storage.catalog.share_backups import note_progress
from storage.catalog.share_models import ShareBackup
from storage.catalog.snapshots import hold_for_backup, release_after_backup
from storage.catalog.volumes import get_volume, volume_bytes
from storage.errors import InvalidRequest, InvalidStatus

B, V = BackupStatus, VolumeStatus
# Rows whose data moves in a flow run, with progress_done/progress_total columns.
Moving = type[Backup] | type[Volume] | type[ShareBackup] | type[DbBackup]
SORT_KEYS = {
    "id": "id",
    "status": "status",
    "size": "size",
    "name": "name",
    "display_name": "name",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "data_timestamp": "data_timestamp",
    "volume_id": "volume_id",
    "availability_zone": "availability_zone",
}
DEPENDENTS_EXIST = "Invalid backup: Incremental backups exist for this backup."


def begin_backup(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    volume_id: str,
    name: str | None = None,
    description: str | None = None,
    container: str | None = None,
    metadata: Mapping[str, str] | None = None,
    availability_zone: str | None = None,
    force: bool = False,
    incremental: bool = False,
    parent_taken_before: datetime | None = None,
    snapshot_id: str | None = None,
    policy_id: str | None = None,
) -> Backup:
    """Guard the volume, move it to backing-up and insert the backup as creating.

    With ``incremental`` the parent is the volume's newest available backup (older than
    ``parent_taken_before``, for backups of a snapshot); InvalidRequest when there is none.
    The parent's dependent count rises in the same transaction as the insert. With
    ``snapshot_id`` the snapshot (available, of this volume) goes backing-up instead of
    the volume, and the backup's data_timestamp is the snapshot's created_at.
    """
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    parent = None
    if incremental:
        parent = _parent(session, volume, project_id, parent_taken_before)
    snapshot = _hold_source(session, volume, snapshot_id, project_id, force=force)
    if parent is not None and not chains.add_dependent(session=session, parent_id=parent.id):
        session.rollback()  # the volume's compare-and-set above must not stick
        raise InvalidStatus(chains.PARENT_GONE)
    backup = Backup(
        id=str(uuid.uuid4()),
        project_id=project_id,
        user_id=user_id,
        volume_id=volume_id,
        parent_id=parent.id if parent is not None else None,
        name=name,
        description=description,
        container=container,
        meta=dict(metadata or {}),
        availability_zone=availability_zone or volume.availability_zone,
        size=volume.size,
        op_token=str(uuid.uuid4()),
        progress_total=volume_bytes(volume),
        policy_id=policy_id,
    )
    if snapshot is not None:
        backup.snapshot_id, backup.data_timestamp = snapshot.id, snapshot.created_at
    session.add(backup)
    session.commit()
    session.refresh(backup)
    return backup


def _parent(
    session: Session, volume: Volume, project_id: str, taken_before: datetime | None
) -> Backup:
    parent = chains.select_parent(
        session=session, volume_id=volume.id, project_id=project_id, taken_before=taken_before
    )
    if parent is None:
        raise InvalidRequest(chains.NO_PARENT)
    return parent


def _hold_source(
    session: Session, volume: Volume, snapshot_id: str | None, project_id: str, *, force: bool
) -> Snapshot | None:
    if snapshot_id is None:
        _hold_volume(session, volume, force=force)
        return None
    # A backup of a snapshot holds the snapshot; the volume is untouched (Cinder).
    return hold_for_backup(
        session=session, snapshot_id=snapshot_id, volume_id=volume.id, project_id=project_id
    )


def _hold_volume(session: Session, volume: Volume, *, force: bool) -> None:
    allowed = {V.AVAILABLE, V.IN_USE} if force else {V.AVAILABLE}
    if volume.status == V.IN_USE and not force:
        raise InvalidStatus("Invalid volume: Backing up an in-use volume must use the force flag.")
    changed = compare_and_set(
        session,
        Volume,
        volume.id,
        to=V.BACKING_UP,
        expected=allowed,
        previous_status=volume.status,
    )
    require(
        changed,
        "Invalid volume: Volume to be backed up must be available or in-use, "
        f'but the current status is "{volume.status}".',
    )


def get_backup(*, session: Session, backup_id: str, project_id: str | None = None) -> Backup:
    """Return the backup; RecordNotFound if missing or owned by another project."""
    return get_owned(session, Backup, backup_id, project_id)


def list_backups(
    *,
    session: Session,
    project_id: str | None,
    filters: Mapping[str, str] | None = None,
    sort: Sequence[tuple[str, str]] = (("created_at", "desc"),),
    limit: int | None = None,
    marker: str | None = None,
    offset: int = 0,
) -> tuple[list[Backup], int]:
    """One page of backups and the total matching count; InvalidRequest on bad keys."""
    return list_page(
        session,
        Backup,
        project_id=project_id,
        clauses=[filter_clause(key, value) for key, value in (filters or {}).items()],
        sort_keys=SORT_KEYS,
        sort=sort,
        limit=limit,
        marker=marker,
        offset=offset,
    )


def begin_backup_delete(*, session: Session, backup_id: str, project_id: str | None) -> Backup:
    """Move a backup to deleting; refuse other statuses and backups with dependents."""
    backup = get_backup(session=session, backup_id=backup_id, project_id=project_id)
    refuse_with_dependents(session=session, backup=backup)
    return mark_deleting(
        session=session,
        backup=backup,
        expected={B.AVAILABLE, B.ERROR, B.ERROR_DELETING},
        refused="Invalid backup: Backup status must be available or error",
    )


def refuse_with_dependents(*, session: Session, backup: Backup) -> None:
    """InvalidRequest while incremental children exist (counted, or as rows); reads only."""
    if backup.num_dependent_backups > 0 or chains.child_ids(session=session, backup_id=backup.id):
        raise InvalidRequest(DEPENDENTS_EXIST)


def mark_deleting(
    *, session: Session, backup: Backup, expected: Collection[str], refused: str
) -> Backup:
    """Compare-and-set from `expected` to deleting with a new attempt token; commits once.

    Atomic with a child's creation, which raises the dependent count only while the
    parent is available: InvalidRequest when a child won that race, InvalidStatus
    (`refused`) when the status was elsewhere. Returns the refreshed row.
    """
    changed = compare_and_set(
        session,
        Backup,
        backup.id,
        to=B.DELETING,
        expected=expected,
        where=[col(Backup.num_dependent_backups) == 0],
        op_token=str(uuid.uuid4()),
        flow_run_id=None,  # a new operation: no earlier run may settle it
        fail_reason=None,
    )
    if not changed:
        session.refresh(backup)
        if backup.num_dependent_backups > 0:
            raise InvalidRequest(DEPENDENTS_EXIST)
    require(changed, refused)
    session.commit()
    session.refresh(backup)
    return backup


def attach_flow_run(*, session: Session, record: Any, flow_run_id: str) -> None:
    """Record which flow run drives the record's current transition."""
    record.flow_run_id = flow_run_id
    session.add(record)
    session.commit()
    session.refresh(record)


def update_progress(
    *, session: Session, model: Moving, record_id: str, done: int, total: int
) -> None:
    """Store bytes done / total for a record whose data is moving."""
    record = session.get(model, record_id)
    if record is not None:
        record.progress_done, record.progress_total = done, total
        if isinstance(record, ShareBackup):
            note_progress(record)
        session.add(record)
        session.commit()


def finish_backup(
    *,
    session: Session,
    backup_id: str,
    object_count: int,
    stored_bytes: int,
    run_ids: Collection[str] = (),
) -> bool:
    """creating -> available and the source volume or snapshot released; idempotent.

    False (and nothing released) when the backup was no longer creating, or (with
    ``run_ids``) no longer driven by one of those runs.
    """
    backup = get_backup(session=session, backup_id=backup_id)
    changed = compare_and_set(
        session,
        Backup,
        backup_id,
        to=B.AVAILABLE,
        expected={B.CREATING},
        object_count=object_count,
        stored_bytes=stored_bytes,
        progress_done=backup.progress_total,
        fail_reason=None,
        where=owner_where(Backup, run_ids),
    )
    if changed:
        # Only this run's hold: a row settled meanwhile (hook, reset) released it already,
        # and the source may now be held by another operation.
        _release_source(session, backup)
    session.commit()
    return changed


def _release_source(session: Session, backup: Backup) -> None:
    if backup.snapshot_id is not None:
        release_after_backup(session=session, snapshot_id=backup.snapshot_id)
    else:
        _release_source_volume(session, backup.volume_id)


def _release_source_volume(session: Session, volume_id: str) -> None:
    volume = session.get(Volume, volume_id)
    if volume is not None and volume.status == V.BACKING_UP:
        compare_and_set(
            session,
            Volume,
            volume_id,
            to=volume.previous_status or V.AVAILABLE,
            expected={V.BACKING_UP},
            previous_status=None,
        )


def finish_backup_delete(
    *, session: Session, backup_id: str, run_ids: Collection[str] = ()
) -> None:
    """Remove the row of a deleted backup, one dependent fewer for its parent; idempotent.

    With ``run_ids``: LostOwnership unless the row is deleting by one of those runs.
    """
    require_deleting(session=session, model=Backup, record_id=backup_id, run_ids=run_ids)
    backup = session.get(Backup, backup_id)
    if backup is not None:
        if backup.parent_id is not None:
            chains.drop_dependent(session=session, parent_id=backup.parent_id)
        session.delete(backup)
        session.commit()


def fail_operation(
    *, session: Session, backup_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Put a backup whose run failed, and the volume it held, into terminal states.

    No-op (False) when the backup is not in a transitional status: the flow may have
    finished, or another path (hook, API, reconcile) got there first; and, with
    ``run_ids`` (a run's own hook), when another run drives the row now.
    """
    backup = session.get(Backup, backup_id)
    if backup is None or backup.status not in lifecycle.BACKUP_TRANSITIONAL:
        return False
    if run_ids and not owns(backup, lifecycle.BACKUP_TRANSITIONAL, run_ids):
        return False
    status = backup.status
    target = lifecycle.backup_failure_status(status)
    changed = compare_and_set(
        session, Backup, backup_id, to=target, expected={status}, fail_reason=reason
    )
    if status == B.CREATING:
        _release_source(session, backup)
    elif status == B.RESTORING and backup.restore_volume_id:
        _fail_restore_target(session, backup.restore_volume_id, reason)
    session.commit()
    return changed


def _fail_restore_target(session: Session, volume_id: str, reason: str) -> None:
    volume = session.get(Volume, volume_id)
    if volume is None or volume.status not in (V.RESTORING_BACKUP, V.CREATING):
        return
    target = lifecycle.volume_failure_status(V.RESTORING_BACKUP, volume.previous_status)
    compare_and_set(
        session, Volume, volume_id, to=target, expected={volume.status}, fail_reason=reason
    )


def backup_for_volume_run(*, session: Session, volume: Volume) -> Backup | None:
    """The backup whose run holds `volume` in backing-up or restoring-backup, if any."""
    if volume.status == V.BACKING_UP:
        # A backup of one of the volume's snapshots never holds the volume itself.
        stmt = select(Backup).where(
            Backup.volume_id == volume.id,
            Backup.status == B.CREATING,
            col(Backup.snapshot_id).is_(None),
        )
    elif volume.status in (V.RESTORING_BACKUP, V.CREATING):
        stmt = select(Backup).where(
            Backup.restore_volume_id == volume.id, Backup.status == B.RESTORING
        )
    else:
        return None
    return session.exec(stmt).first()
