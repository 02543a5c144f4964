"""Restores: guard a backup and its target volume, then settle both when the run ends.

`begin_restore` is the API's guard-and-transition step (a new volume, or an existing
available one, goes restoring-backup); `finish_restore` is the flow's terminal step.
A failed restore is settled by storage.catalog.backups.fail_operation. Each commits once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from pathlib import Path

from sqlmodel import Session, col, func, select

from storage.catalog import lifecycle
from storage.catalog.backups import get_backup
from storage.catalog.cas import compare_and_set, require
from storage.catalog.models import (
    Backup,
    BackupStatus,
    Snapshot,
    Volume,
    VolumeStatus,
)
from storage.catalog.ownership import owner_where
from storage.catalog.volumes import get_volume
from storage.errors import InvalidRequest, InvalidStatus

B, V = BackupStatus, VolumeStatus


def begin_restore(
    *,
    session: Session,
    backup_id: str,
    project_id: str,
    user_id: str,
    volume_id: str | None = None,
    name: str | None = None,
    volumes_dir: Path,
) -> tuple[Backup, Volume]:
    """Guard backup and target, move them to restoring / restoring-backup (or creating).

    Without ``volume_id`` a new volume row (creating) is the target. RecordNotFound for a
    missing or foreign backup or volume; InvalidStatus unless both are available, or while
    a snapshot of the target is being created (lifecycle.snapshots_blocking);
    InvalidRequest for a target smaller than the backup.
    """
    backup = get_backup(session=session, backup_id=backup_id, project_id=project_id)
    if backup.status != B.AVAILABLE:
        raise InvalidStatus("Invalid backup: Backup status must be available")
    if volume_id is None:
        volume = _new_restore_volume(session, backup, project_id, user_id, name, volumes_dir)
    else:
        volume = _claim_restore_volume(session, backup, volume_id, project_id)
    changed = compare_and_set(
        session,
        Backup,
        backup_id,
        to=B.RESTORING,
        expected={B.AVAILABLE},
        restore_volume_id=volume.id,
        op_token=str(uuid.uuid4()),
        flow_run_id=None,  # a new operation: no earlier run may settle it
        fail_reason=None,
        # Progress now counts the restore's bytes, from zero.
        progress_done=0,
    )
    require(changed, "Invalid backup: Backup status must be available")
    session.commit()
    session.refresh(backup)
    session.refresh(volume)
    return backup, volume


def _new_restore_volume(
    session: Session,
    backup: Backup,
    project_id: str,
    user_id: str,
    name: str | None,
    volumes_dir: Path,
) -> Volume:
    volume_id = str(uuid.uuid4())
    volume = Volume(
        id=volume_id,
        project_id=project_id,
        user_id=user_id,
        size=backup.size,
        name=name or f"restore_backup_{backup.id}",
        description="auto-created_from_restore_from_backup",
        status=V.CREATING,
        previous_status=V.CREATING,
        path=str(volumes_dir / f"{volume_id}.img"),
        availability_zone=backup.availability_zone or "nova",
        op_token=str(uuid.uuid4()),
    )
    session.add(volume)
    return volume


def _claim_restore_volume(
    session: Session, backup: Backup, volume_id: str, project_id: str
) -> Volume:
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    if volume.size < backup.size:
        raise InvalidRequest(
            f"Invalid volume: volume size {volume.size}GB cannot be smaller than "
            f"the backup size {backup.size}GB. It must be >= backup size."
        )
    changed = compare_and_set(
        session,
        Volume,
        volume_id,
        to=V.RESTORING_BACKUP,
        expected={V.AVAILABLE},
        previous_status=V.AVAILABLE,
        fail_reason=None,
    )
    require(
        changed,
        f"Invalid volume: Volume to be restored to must be available, "
        f'but the current status is "{volume.status}".',
    )
    # Counted after the compare-and-set, in its transaction: a snapshot create (which
    # compare-and-sets the volume to its own status) either is counted here or finds the
    # volume restoring-backup and is refused. Its copy must not read a half-restored file.
    if _snapshots_being_created(session, volume_id):
        session.rollback()
        raise InvalidStatus(
            f"Invalid volume: a snapshot of volume {volume_id} is being created; "
            "restore to it when the snapshot is available."
        )
    return volume


def _snapshots_being_created(session: Session, volume_id: str) -> int:
    # The snapshot statuses the transition table says block this edge (creating).
    blocking = lifecycle.snapshots_blocking(V.AVAILABLE, V.RESTORING_BACKUP)
    stmt = (
        select(func.count())
        .select_from(Snapshot)
        .where(Snapshot.volume_id == volume_id, col(Snapshot.status).in_(sorted(blocking)))
    )
    return int(session.exec(stmt).one())


def finish_restore(*, session: Session, backup_id: str, run_ids: Collection[str] = ()) -> bool:
    """restoring -> available, target volume -> available (tagged src_backup_id).

    False (and the target untouched) when the backup was no longer restoring, or (with
    ``run_ids``) no longer driven by one of those runs.
    """
    backup = get_backup(session=session, backup_id=backup_id)
    changed = compare_and_set(
        session,
        Backup,
        backup_id,
        to=B.AVAILABLE,
        expected={B.RESTORING},
        where=owner_where(Backup, run_ids),
    )
    # Only this run's target: a restore settled meanwhile no longer holds it.
    volume = session.get(Volume, backup.restore_volume_id or "") if changed else None
    if volume is not None and volume.status == V.RESTORING_BACKUP:
        meta = dict(volume.meta)
        if volume.id != backup.volume_id:
            meta["src_backup_id"] = backup.id
        compare_and_set(
            session,
            Volume,
            volume.id,
            to=V.AVAILABLE,
            expected={V.RESTORING_BACKUP},
            previous_status=None,
            meta=meta,
            fail_reason=None,
        )
    session.commit()
    return changed
