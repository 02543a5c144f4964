"""Keyword-only catalog functions for volumes; each takes a session and commits once."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from storage.catalog import lifecycle
from storage.catalog.cas import compare_and_set, require
from storage.catalog.models import Snapshot, Volume, VolumeAttachment, VolumeStatus
from storage.catalog.ownership import owner_where, owns, require_deleting
from storage.catalog.rows import get_owned, save_edit
from storage.errors import InvalidRequest, InvalidStatus

GIB = 1024**3
DELETABLE = frozenset(
    {
        VolumeStatus.AVAILABLE,
        VolumeStatus.ERROR,
        VolumeStatus.ERROR_RESTORING,
        VolumeStatus.ERROR_MANAGING,
        VolumeStatus.ERROR_DELETING,
    }
)


def create_volume(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    size_gb: int,
    name: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    availability_zone: str | None = None,
    path: str | None = None,
    volumes_dir: Path | None = None,
    managed: bool = False,
    status: str = VolumeStatus.CREATING,
) -> Volume:
    """Insert a volume row; its file lives at `path` or at volumes_dir/<id>.img."""
    volume_id = str(uuid.uuid4())
    if path is None:
        if volumes_dir is None:
            raise ValueError("create_volume needs path or volumes_dir")
        path = str(volumes_dir / f"{volume_id}.img")
    volume = Volume(
        id=volume_id,
        project_id=project_id,
        user_id=user_id,
        size=size_gb,
        name=name,
        description=description,
        meta=dict(metadata or {}),
        availability_zone=availability_zone or "nova",
        path=path,
        managed=managed,
        status=status,
        op_token=str(uuid.uuid4()),
    )
    session.add(volume)
    session.commit()
    session.refresh(volume)
    return volume


def get_volume(*, session: Session, volume_id: str, project_id: str | None = None) -> Volume:
    """Return the volume; RecordNotFound if missing or owned by another project."""
    return get_owned(session, Volume, volume_id, project_id)


def list_volumes(*, session: Session, project_id: str | None = None) -> list[Volume]:
    """Volumes of a project (all projects when None), newest first."""
    stmt = select(Volume).order_by(col(Volume.created_at).desc(), col(Volume.id).desc())
    if project_id is not None:
        stmt = stmt.where(Volume.project_id == project_id)
    return list(session.exec(stmt))


def begin_volume_delete(*, session: Session, volume_id: str, project_id: str | None) -> Volume:
    """Move a volume to deleting; InvalidStatus unless available or in an error state."""
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    changed = compare_and_set(
        session,
        Volume,
        volume_id,
        to=VolumeStatus.DELETING,
        expected=DELETABLE,
        op_token=str(uuid.uuid4()),
        flow_run_id=None,  # a new operation: no earlier run may settle it
        fail_reason=None,
    )
    require(
        changed,
        "Invalid volume: Volume status must be available or error or error_restoring or "
        f"error_extending or error_managing and must not be migrating, attached, belong "
        f"to a group, have snapshots or be disassociated from snapshots after volume "
        f"transfer, but current status is {volume.status}.",
    )
    # Counted after the compare-and-set: a snapshot begun concurrently either committed
    # first (and is seen here) or finds the volume deleting and is refused.
    if _snapshot_count(session, volume_id):
        session.rollback()
        raise InvalidRequest(f"Invalid volume: Volume {volume_id} has snapshots.")
    session.commit()
    session.refresh(volume)
    return volume


def _snapshot_count(session: Session, volume_id: str) -> int:
    stmt = select(func.count()).select_from(Snapshot).where(Snapshot.volume_id == volume_id)
    return int(session.exec(stmt).one())


def reset_volume_status(*, session: Session, volume_id: str, status: str) -> Volume:
    """Admin override: set any valid volume status, bypassing the transition table."""
    if status not in set(VolumeStatus):
        raise InvalidStatus(f"Invalid volume status: {status}.")
    volume = get_volume(session=session, volume_id=volume_id)
    volume.status = status
    return save_edit(session, volume)


def set_volume_status(
    *,
    session: Session,
    volume_id: str,
    to: str,
    expected: frozenset[str],
    run_ids: Collection[str] = (),
    **values: Any,
) -> bool:
    """Compare-and-set a volume's status and commit; False if it was not in `expected`
    (or, with ``run_ids``, was driven by another run)."""
    where = owner_where(Volume, run_ids)
    changed = compare_and_set(
        session, Volume, volume_id, to=to, expected=expected, where=where, **values
    )
    session.commit()
    return changed


def finish_volume_setup(
    *, session: Session, volume_id: str, size_bytes: int, run_ids: Collection[str] = ()
) -> bool:
    """creating/managing -> available, recording the measured size; idempotent."""
    return set_volume_status(
        session=session,
        volume_id=volume_id,
        to=VolumeStatus.AVAILABLE,
        expected=frozenset({VolumeStatus.CREATING, VolumeStatus.MANAGING}),
        run_ids=run_ids,
        size=max(1, -(-size_bytes // GIB)),
    )


def fail_volume(
    *, session: Session, volume_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Move a volume in a transitional status to its failure status; else no-op (also
    when, with ``run_ids``, another run drives it now)."""
    volume = session.get(Volume, volume_id)
    if volume is None or volume.status not in lifecycle.VOLUME_TRANSITIONAL:
        return False
    if run_ids and not owns(volume, lifecycle.VOLUME_TRANSITIONAL, run_ids):
        return False
    target = lifecycle.volume_failure_status(volume.status, volume.previous_status)
    values: dict[str, Any] = {"fail_reason": reason}
    if target in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
        values["previous_status"] = None
    return set_volume_status(
        session=session,
        volume_id=volume_id,
        to=target,
        expected=frozenset({volume.status}),
        **values,
    )


def delete_volume_row(*, session: Session, volume_id: str, run_ids: Collection[str] = ()) -> None:
    """Remove a volume row (and attachments an admin reset left behind); idempotent.

    With ``run_ids``: LostOwnership unless the row is deleting by one of those runs.
    """
    require_deleting(session=session, model=Volume, record_id=volume_id, run_ids=run_ids)
    volume = session.get(Volume, volume_id)
    if volume is not None:
        session.exec(delete(VolumeAttachment).where(col(VolumeAttachment.volume_id) == volume_id))
        session.delete(volume)
        session.commit()


def volume_bytes(volume: Volume) -> int:
    """The volume's size in bytes as the catalog knows it."""
    return volume.size * GIB
