"""Snapshots and backups of snapshots in the catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from storage import catalog
from storage.catalog import Snapshot, SnapshotStatus, Volume, lifecycle
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, every_row, make_volume, transitional_of


def _snapshot(
    session: Session, tmp_path: Path, volume: Volume, *, available: bool = True, **kw: Any
) -> Snapshot:
    snap = catalog.begin_snapshot(
        session=session,
        project_id=volume.project_id,
        user_id="u",
        volume_id=volume.id,
        snapshots_dir=tmp_path / "snapshots",
        **kw,
    )
    if available:
        assert catalog.finish_snapshot(session=session, snapshot_id=snap.id)
        session.refresh(snap)
    return snap


def test_schema_after_migrations_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


@pytest.mark.parametrize(
    ("current", "target"), itertools.product(list(SnapshotStatus), list(SnapshotStatus))
)
def test_snapshot_transition_table(current: str, target: str) -> None:
    if target in lifecycle.SNAPSHOT_TRANSITIONS.get(current, frozenset()):
        lifecycle.check_snapshot_transition(current, target)
    else:
        with pytest.raises(InvalidStatus):
            lifecycle.check_snapshot_transition(current, target)


def test_snapshot_failure_statuses_are_edges() -> None:
    for status in [*lifecycle.SNAPSHOT_TRANSITIONAL, SnapshotStatus.BACKING_UP]:
        target = lifecycle.snapshot_failure_status(status, SnapshotStatus.AVAILABLE)
        lifecycle.check_snapshot_transition(status, target)


def test_create_guard_and_lifecycle(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path, size=2)
    snap = _snapshot(
        session, tmp_path, vol, available=False, name="s1", description="d", metadata={"k": "v"}
    )
    assert (snap.status, snap.size, snap.meta, snap.progress) == ("creating", 2, {"k": "v"}, "0%")
    assert snap.path == str(tmp_path / "snapshots" / f"{snap.id}.img")
    session.refresh(vol)
    assert vol.status == "available"  # a snapshot never holds its volume
    assert catalog.finish_snapshot(session=session, snapshot_id=snap.id)
    assert not catalog.finish_snapshot(session=session, snapshot_id=snap.id)  # repeat: no-op
    session.refresh(snap)
    assert (snap.status, snap.progress) == ("available", "100%")


@pytest.mark.parametrize(
    ("status", "force", "allowed"),
    [
        ("in-use", False, False),
        ("in-use", True, True),
        ("backing-up", True, False),
        ("creating", True, False),
        ("error", True, False),
    ],
)
def test_create_needs_an_available_or_forced_in_use_volume(
    session: Session, tmp_path: Path, status: str, force: bool, allowed: bool
) -> None:
    vol = make_volume(session, tmp_path, status=status)
    if allowed:
        assert _snapshot(session, tmp_path, vol, force=force).volume_id == vol.id
        return
    before = every_row(session)
    with pytest.raises(InvalidStatus, match=f"current status is: {status}"):
        _snapshot(session, tmp_path, vol, force=force)
    assert every_row(session) == before


def test_create_of_another_projects_volume_is_not_found(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path, project=Q)
    with pytest.raises(RecordNotFound):
        catalog.begin_snapshot(
            session=session,
            project_id=P,
            user_id="u",
            volume_id=vol.id,
            snapshots_dir=tmp_path,
        )
    assert catalog.list_snapshots(session=session, project_id=None)[1] == 0


def test_list_semantics(session: Session, tmp_path: Path) -> None:
    vol, other = (
        make_volume(session, tmp_path),
        make_volume(session, tmp_path),
    )
    names = ["c", "a", "b"]
    snaps = [_snapshot(session, tmp_path, vol, name=n) for n in names]
    _snapshot(session, tmp_path, other, name="a")
    _snapshot(session, tmp_path, make_volume(session, tmp_path, project=Q), name="a")

    rows, total = catalog.list_snapshots(session=session, project_id=P)
    assert total == 4 and len(rows) == 4
    # Default: newest first.
    assert [r.name for r in rows][1:] == ["b", "a", "c"]
    rows, total = catalog.list_snapshots(
        session=session, project_id=P, filters={"volume_id": vol.id}, sort=[("display_name", "asc")]
    )
    assert ([r.name for r in rows], total) == (["a", "b", "c"], 3)
    rows, total = catalog.list_snapshots(
        session=session, project_id=P, filters={"name": "a"}, sort=[("volume_id", "asc")]
    )
    assert total == 2 and all(r.name == "a" for r in rows)
    page, total = catalog.list_snapshots(
        session=session,
        project_id=P,
        filters={"volume_id": vol.id},
        sort=[("name", "asc")],
        limit=1,
        marker=snaps[1].id,  # "a"
    )
    assert ([r.name for r in page], total) == (["b"], 3)
    page, _ = catalog.list_snapshots(
        session=session, project_id=P, sort=[("name", "desc")], limit=2, offset=1
    )
    assert [r.name for r in page] == ["b", "a"]
    assert catalog.list_snapshots(session=session, project_id=None)[1] == 5
    assert catalog.list_snapshots(session=session, project_id=P, filters={"status": "error"})[
        1
    ] == (0)
    with pytest.raises(RecordNotFound):
        catalog.list_snapshots(session=session, project_id=Q, marker=snaps[0].id)
    with pytest.raises(InvalidRequest):
        catalog.list_snapshots(session=session, project_id=P, sort=[("path", "asc")])
    with pytest.raises(InvalidRequest):
        catalog.list_snapshots(session=session, project_id=P, sort=[("name", "up")])
    with pytest.raises(InvalidRequest):
        catalog.list_snapshots(session=session, project_id=P, filters={"path": "/"})


def test_update_and_metadata(session: Session, tmp_path: Path) -> None:
    snap = _snapshot(session, tmp_path, make_volume(session, tmp_path), metadata={"a": "1"})
    updated = catalog.update_snapshot(
        session=session,
        snapshot_id=snap.id,
        project_id=P,
        changes={"name": "n", "description": None},
    )
    assert (updated.name, updated.description) == ("n", None)
    with pytest.raises(InvalidRequest):
        catalog.update_snapshot(
            session=session, snapshot_id=snap.id, project_id=P, changes={"status": "error"}
        )
    with pytest.raises(RecordNotFound):
        catalog.update_snapshot(
            session=session, snapshot_id=snap.id, project_id=Q, changes={"name": "x"}
        )

    def meta(**kw: Any) -> dict[str, str]:
        return catalog.set_snapshot_metadata(
            session=session, snapshot_id=snap.id, project_id=P, **kw
        )

    assert meta(metadata={"b": "2", "a": "x"}, replace=False) == {"a": "x", "b": "2"}
    assert meta(metadata={"c": "3"}, replace=True) == {"c": "3"}
    catalog.delete_snapshot_metadata_key(
        session=session, snapshot_id=snap.id, project_id=P, key="c"
    )
    session.expire_all()
    assert catalog.get_snapshot(session=session, snapshot_id=snap.id).meta == {}
    with pytest.raises(RecordNotFound):
        catalog.delete_snapshot_metadata_key(
            session=session, snapshot_id=snap.id, project_id=P, key="c"
        )
    with pytest.raises(RecordNotFound):
        catalog.set_snapshot_metadata(
            session=session, snapshot_id=snap.id, project_id=Q, metadata={}, replace=True
        )


def test_reset_status(session: Session, tmp_path: Path) -> None:
    snap = _snapshot(session, tmp_path, make_volume(session, tmp_path))
    assert catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status="error")
    with pytest.raises(InvalidStatus):
        catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status="bogus")
    with pytest.raises(InvalidStatus):
        catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status="deleted")
    session.refresh(snap)
    assert snap.status == "error"


@pytest.mark.parametrize(
    ("status", "force", "allowed"),
    [
        ("available", False, True),
        ("error", False, True),
        ("error_deleting", False, True),
        ("creating", False, False),
        ("backing-up", False, False),
        ("deleting", False, False),
        ("deleting", True, True),
        ("restoring", True, True),
        ("creating", True, False),
        ("backing-up", True, False),
    ],
)
def test_delete_guard(
    session: Session, tmp_path: Path, status: str, force: bool, allowed: bool
) -> None:
    snap = _snapshot(session, tmp_path, make_volume(session, tmp_path))
    catalog.reset_snapshot_status(session=session, snapshot_id=snap.id, status=status)
    token = snap.op_token
    if not allowed:
        before = every_row(session)
        with pytest.raises(InvalidStatus):
            catalog.begin_snapshot_delete(
                session=session, snapshot_id=snap.id, project_id=P, force=force
            )
        assert every_row(session) == before
        return
    deleting = catalog.begin_snapshot_delete(
        session=session, snapshot_id=snap.id, project_id=P, force=force
    )
    assert deleting.status == "deleting" and deleting.op_token != token
    catalog.finish_snapshot_delete(session=session, snapshot_id=snap.id)
    catalog.finish_snapshot_delete(session=session, snapshot_id=snap.id)  # idempotent
    with pytest.raises(RecordNotFound):
        catalog.get_snapshot(session=session, snapshot_id=snap.id)


def test_failures_and_repair(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    creating = _snapshot(session, tmp_path, vol, available=False)
    assert [s.id for s in transitional_of(catalog.Snapshot, session)] == [creating.id]
    assert catalog.repair_after_run(session=session, record=creating, reason="run crashed")
    assert not catalog.fail_snapshot(session=session, snapshot_id=creating.id, reason="again")
    session.refresh(creating)
    assert (creating.status, creating.fail_reason) == ("error", "run crashed")

    catalog.begin_snapshot_delete(session=session, snapshot_id=creating.id, project_id=P)
    assert catalog.fail_snapshot(session=session, snapshot_id=creating.id, reason="io")
    session.refresh(creating)
    assert creating.status == "error_deleting"
    # A later delete clears the old reason.
    assert (
        catalog.begin_snapshot_delete(
            session=session, snapshot_id=creating.id, project_id=P
        ).fail_reason
        is None
    )
    assert not catalog.fail_snapshot(session=session, snapshot_id="missing", reason="x")


def test_volume_with_snapshots_cannot_be_deleted(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    snap = _snapshot(session, tmp_path, vol)
    before = every_row(session)
    with pytest.raises(InvalidRequest, match="has snapshots"):
        catalog.begin_volume_delete(session=session, volume_id=vol.id, project_id=P)
    assert every_row(session) == before
    catalog.begin_snapshot_delete(session=session, snapshot_id=snap.id, project_id=P)
    catalog.finish_snapshot_delete(session=session, snapshot_id=snap.id)
    assert catalog.begin_volume_delete(session=session, volume_id=vol.id, project_id=P).status == (
        "deleting"
    )


def test_snapshot_of_a_deleting_volume_is_refused(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    catalog.begin_volume_delete(session=session, volume_id=vol.id, project_id=P)
    with pytest.raises(InvalidStatus):
        _snapshot(session, tmp_path, vol)


def test_backup_of_a_snapshot_holds_the_snapshot_only(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    snap = _snapshot(session, tmp_path, vol)
    backup = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, snapshot_id=snap.id
    )
    session.refresh(snap)
    session.refresh(vol)
    assert (backup.snapshot_id, backup.data_timestamp) == (snap.id, snap.created_at)
    assert (snap.status, vol.status) == ("backing-up", "available")
    # The snapshot is busy; the volume itself may still be backed up meanwhile.
    with pytest.raises(InvalidStatus, match="must be available"):
        catalog.begin_backup(
            session=session, project_id=P, user_id="u", volume_id=vol.id, snapshot_id=snap.id
        )
    with pytest.raises(InvalidStatus):
        catalog.begin_snapshot_delete(session=session, snapshot_id=snap.id, project_id=P)
    plain = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    session.refresh(vol)
    assert vol.status == "backing-up"
    assert catalog.backup_for_volume_run(session=session, volume=vol) is not None
    assert catalog.backup_for_volume_run(session=session, volume=vol).id == plain.id  # type: ignore[union-attr]

    # Finishing the snapshot's backup releases the snapshot, not the volume.
    assert catalog.finish_backup(
        session=session, backup_id=backup.id, object_count=1, stored_bytes=1
    )
    session.refresh(snap)
    session.refresh(vol)
    assert (snap.status, snap.previous_status, vol.status) == ("available", None, "backing-up")
    catalog.finish_backup(session=session, backup_id=plain.id, object_count=1, stored_bytes=1)
    session.refresh(vol)
    assert vol.status == "available"


def test_failed_backup_of_a_snapshot_releases_it(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    snap = _snapshot(session, tmp_path, vol)
    backup = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, snapshot_id=snap.id
    )
    assert catalog.repair_after_run(session=session, record=backup, reason="crashed")
    session.refresh(snap)
    session.refresh(backup)
    assert (backup.status, snap.status) == ("error", "available")


@pytest.mark.parametrize("case", ["other-volume", "creating", "other-project", "missing"])
def test_backup_of_a_snapshot_is_refused_without_changes(
    session: Session, tmp_path: Path, case: str
) -> None:
    vol = make_volume(session, tmp_path)
    other = make_volume(session, tmp_path, project=Q if case == "other-project" else P)
    # The backup names `vol`; the snapshot is of `other` except where it must match.
    snap = _snapshot(session, tmp_path, vol if case == "creating" else other, available=False)
    if case != "creating":
        catalog.finish_snapshot(session=session, snapshot_id=snap.id)
    target = vol.id
    snapshot_id = snap.id if case != "missing" else "00000000-0000-0000-0000-00000000dead"
    expected: type[Exception] = {
        "other-volume": InvalidRequest,
        "creating": InvalidStatus,
        "other-project": RecordNotFound,
        "missing": RecordNotFound,
    }[case]
    before = every_row(session)
    with pytest.raises(expected):
        catalog.begin_backup(
            session=session, project_id=P, user_id="u", volume_id=target, snapshot_id=snapshot_id
        )
    assert every_row(session) == before
