"""Keyword-only catalog functions for snapshots: guards, transitions, queries, metadata.

`begin_*` functions are the API's guard-and-transition steps; `finish_*` and
`fail_snapshot` are the flows' terminal steps. Each public function commits at most
once; `hold_for_backup` and `release_after_backup` join their caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from sqlmodel import Session, col, select

from storage.catalog import lifecycle
from storage.catalog.cas import compare_and_set, require
from storage.catalog.models import Snapshot, SnapshotStatus, Volume, VolumeStatus
from storage.catalog.ownership import owner_where, owns, require_deleting
from storage.catalog.paging import list_page
from storage.catalog.rows import get_owned, save_edit
from storage.catalog.volumes import get_volume
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound

S, V = SnapshotStatus, VolumeStatus
SORT_KEYS: Final = {
    "id": "id",
    "status": "status",
    "size": "size",
    "name": "name",
    "display_name": "name",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "volume_id": "volume_id",
}
# Exact-match columns; list_snapshots also takes `metadata` and `consumes_quota`.
FILTER_KEYS: Final = frozenset({"name", "status", "volume_id", "availability_zone"})
DELETABLE: Final = frozenset({S.AVAILABLE, S.ERROR, S.ERROR_DELETING})
# A forced delete may also take rows no run holds any more (their runs ended or died).
FORCE_DELETABLE: Final = DELETABLE | {S.DELETING, S.UNMANAGING, S.RESTORING, S.UPDATING}
# "deleted" is a soft-delete marker in Cinder; rows here are removed instead.
RESETTABLE: Final = frozenset(SnapshotStatus) - {S.DELETED}
UPDATABLE_FIELDS: Final = frozenset({"name", "description"})


def begin_snapshot(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    volume_id: str,
    snapshots_dir: Path,
    name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
) -> Snapshot:
    """Guard the volume (available, or in-use with force) and insert the snapshot creating.

    The volume keeps its status; its row is touched with a compare-and-set so that a
    concurrent volume delete either sees this snapshot or makes this call fail.
    RecordNotFound for another project's volume, InvalidStatus for a busy one.
    """
    volume = get_volume(session=session, volume_id=volume_id, project_id=project_id)
    allowed = (V.AVAILABLE, V.IN_USE) if force else (V.AVAILABLE,)
    message = (
        f"Invalid volume: Volume {volume_id} status must be {', '.join(allowed)}, "
        f"but current status is: {volume.status}."
    )
    if volume.status not in allowed:
        raise InvalidStatus(message)
    # Same status: the update only locks the row and proves the status still holds.
    changed = compare_and_set(
        session, Volume, volume_id, to=volume.status, expected={volume.status}
    )
    require(changed, message)
    snapshot_id = str(uuid.uuid4())
    snapshot = Snapshot(
        id=snapshot_id,
        project_id=project_id,
        user_id=user_id,
        volume_id=volume_id,
        name=name,
        description=description,
        meta=dict(metadata or {}),
        size=volume.size,
        path=str(snapshots_dir / f"{snapshot_id}.img"),
        op_token=str(uuid.uuid4()),
    )
    session.add(snapshot)
    session.commit()
    session.refresh(snapshot)
    return snapshot


def get_snapshot(*, session: Session, snapshot_id: str, project_id: str | None = None) -> Snapshot:
    """Return the snapshot; RecordNotFound if missing or owned by another project."""
    return get_owned(session, Snapshot, snapshot_id, project_id)


def list_snapshots(
    *,
    session: Session,
    project_id: str | None,
    filters: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
    consumes_quota: bool | None = None,
    sort: Sequence[tuple[str, str]] = (("created_at", "desc"),),
    limit: int | None = None,
    marker: str | None = None,
    offset: int = 0,
) -> tuple[list[Snapshot], int]:
    """One page of snapshots and the total matching count; InvalidRequest on bad keys.

    `filters` match columns exactly (`availability_zone` is the volume's); every
    `metadata` item must be in the snapshot's metadata; None filters nothing.
    """
    return list_page(
        session,
        Snapshot,
        project_id=project_id,
        clauses=_filter_clauses(filters or {}, metadata or {}, consumes_quota),
        sort_keys=SORT_KEYS,
        sort=sort,
        limit=limit,
        marker=marker,
        offset=offset,
    )


def _filter_clauses(
    filters: Mapping[str, str], metadata: Mapping[str, str], consumes_quota: bool | None
) -> list[Any]:
    clauses: list[Any] = []
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise InvalidRequest(f"Invalid filter keys: {key}")
        if key == "availability_zone":
            zone = select(Volume.id).where(Volume.availability_zone == value)
            clauses.append(col(Snapshot.volume_id).in_(zone))
        else:
            clauses.append(getattr(Snapshot, key) == value)
    # JSON key lookup: json_extract on SQLite, ->> on PostgreSQL.
    meta: Any = col(Snapshot.meta)
    clauses.extend(meta[key].as_string() == value for key, value in metadata.items())
    if consumes_quota is not None:
        clauses.append(col(Snapshot.consumes_quota).is_(consumes_quota))
    return clauses


def update_snapshot(
    *, session: Session, snapshot_id: str, project_id: str | None, changes: Mapping[str, Any]
) -> Snapshot:
    """Set name and/or description (None clears); InvalidRequest for other fields."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise InvalidRequest(f"Invalid snapshot fields: {', '.join(unknown)}")
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    for key, value in changes.items():
        setattr(snapshot, key, value)
    return save_edit(session, snapshot)


def set_snapshot_metadata(
    *,
    session: Session,
    snapshot_id: str,
    project_id: str | None,
    metadata: Mapping[str, str],
    replace: bool,
) -> dict[str, str]:
    """Merge `metadata` into the snapshot's (or replace it all); the resulting dict."""
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    # A new dict object: the JSON column does not track in-place mutation.
    merged = dict(metadata) if replace else {**snapshot.meta, **metadata}
    snapshot.meta = merged
    save_edit(session, snapshot)
    return merged


def delete_snapshot_metadata_key(
    *, session: Session, snapshot_id: str, project_id: str | None, key: str
) -> None:
    """Remove one metadata key; RecordNotFound when the snapshot or the key is absent."""
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    if key not in snapshot.meta:
        raise RecordNotFound("Snapshot metadata key", key)
    snapshot.meta = {k: v for k, v in snapshot.meta.items() if k != key}
    save_edit(session, snapshot)


def reset_snapshot_status(*, session: Session, snapshot_id: str, status: str) -> Snapshot:
    """Admin override: set any snapshot status, bypassing the transition table."""
    if status not in RESETTABLE:
        raise InvalidStatus(f"Invalid snapshot status: {status}.")
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id)
    snapshot.status = status
    return save_edit(session, snapshot)


def update_snapshot_status(
    *,
    session: Session,
    snapshot_id: str,
    project_id: str | None,
    status: str,
    progress: str | None = None,
    run_live: bool = False,
) -> Snapshot:
    """os-update_snapshot_status: a status within Cinder's table
    (lifecycle.SNAPSHOT_STATUS_UPDATES) and, when given, the progress.

    With ``run_live`` (the snapshot's own create or delete run still works on it) only
    the progress may change: that run decides the end status. InvalidStatus otherwise,
    or when the status changed meanwhile; RecordNotFound for another project's snapshot.
    """
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    current = snapshot.status
    lifecycle.check_snapshot_status_update(current, status)
    if run_live and status != current:
        raise InvalidStatus(
            f"Provided snapshot status {status} not allowed for snapshot with status "
            f"{current}: its own flow run is still working on it, and only the progress "
            "may be updated until that run ends."
        )
    values: dict[str, Any] = {} if progress is None else {"progress": progress}
    if status != current:
        failed = status in (S.ERROR, S.ERROR_DELETING)
        values["fail_reason"] = (
            f"{status} reported by os-update_snapshot_status" if failed else None
        )
    # The same attempt the caller judged: a new operation begun meanwhile has a new token.
    token: Any = col(Snapshot.op_token)
    same = token.is_(None) if snapshot.op_token is None else token == snapshot.op_token
    changed = compare_and_set(
        session, Snapshot, snapshot_id, to=status, expected={current}, where=[same], **values
    )
    require(changed, f"Snapshot {snapshot_id} changed meanwhile; try again.")
    session.commit()
    session.refresh(snapshot)
    return snapshot


def begin_snapshot_delete(
    *, session: Session, snapshot_id: str, project_id: str | None, force: bool = False
) -> Snapshot:
    """Move a snapshot to deleting; InvalidStatus unless available/error (force: wider).

    Even a forced delete refuses `creating` and `backing-up`: a live run reads or
    writes the copy then (a dead one has already been settled to its end status).
    """
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    changed = compare_and_set(
        session,
        Snapshot,
        snapshot_id,
        to=S.DELETING,
        expected=FORCE_DELETABLE if force else DELETABLE,
        op_token=str(uuid.uuid4()),
        flow_run_id=None,  # a new operation: no earlier run may settle it
        fail_reason=None,
    )
    require(
        changed,
        "Invalid snapshot: Snapshot status must be available or error, "
        f"but current status is: {snapshot.status}.",
    )
    session.commit()
    session.refresh(snapshot)
    return snapshot


def finish_snapshot(*, session: Session, snapshot_id: str, run_ids: Collection[str] = ()) -> bool:
    """creating -> available, progress 100%; idempotent (False when not creating, or, with
    ``run_ids``, driven by another run)."""
    changed = compare_and_set(
        session,
        Snapshot,
        snapshot_id,
        to=S.AVAILABLE,
        expected={S.CREATING},
        where=owner_where(Snapshot, run_ids),
        progress="100%",
        fail_reason=None,
    )
    session.commit()
    return changed


def fail_snapshot(
    *, session: Session, snapshot_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Move a snapshot its own run was driving to the failure status; else no-op (also
    when, with ``run_ids``, another run drives it now)."""
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None or snapshot.status not in lifecycle.SNAPSHOT_TRANSITIONAL:
        return False
    if run_ids and not owns(snapshot, lifecycle.SNAPSHOT_TRANSITIONAL, run_ids):
        return False
    target = lifecycle.snapshot_failure_status(snapshot.status, snapshot.previous_status)
    changed = compare_and_set(
        session, Snapshot, snapshot_id, to=target, expected={snapshot.status}, fail_reason=reason
    )
    session.commit()
    return changed


def finish_snapshot_delete(
    *, session: Session, snapshot_id: str, run_ids: Collection[str] = ()
) -> None:
    """Remove the row of a deleted snapshot; idempotent.

    With ``run_ids``: LostOwnership unless the row is deleting by one of those runs.
    """
    require_deleting(session=session, model=Snapshot, record_id=snapshot_id, run_ids=run_ids)
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is not None:
        session.delete(snapshot)
        session.commit()


def hold_for_backup(
    *, session: Session, snapshot_id: str, volume_id: str, project_id: str
) -> Snapshot:
    """available -> backing-up for a backup of `volume_id`; no commit (caller's transaction).

    RecordNotFound for another project's snapshot; InvalidRequest when it belongs to
    another volume; InvalidStatus unless it is available.
    """
    snapshot = get_snapshot(session=session, snapshot_id=snapshot_id, project_id=project_id)
    if snapshot.volume_id != volume_id:
        raise InvalidRequest(
            f"Invalid volume: Volume {volume_id} does not match with "
            f"snapshot.volume_id {snapshot.volume_id}."
        )
    changed = compare_and_set(
        session,
        Snapshot,
        snapshot_id,
        to=S.BACKING_UP,
        expected={S.AVAILABLE},
        previous_status=S.AVAILABLE,
    )
    require(
        changed,
        "Invalid snapshot: Snapshot to be backed up must be available, "
        f'but the current status is "{snapshot.status}".',
    )
    return snapshot


def release_after_backup(*, session: Session, snapshot_id: str) -> bool:
    """backing-up -> its previous status; no commit; False when not backing-up."""
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None or snapshot.status != S.BACKING_UP:
        return False
    return compare_and_set(
        session,
        Snapshot,
        snapshot_id,
        to=snapshot.previous_status or S.AVAILABLE,
        expected={S.BACKING_UP},
        previous_status=None,
    )
