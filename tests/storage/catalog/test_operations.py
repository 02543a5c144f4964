"""Catalog operations on SQLite and PostgreSQL: guards, transitions, queries, repair."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from storage import catalog
from storage.catalog import Backup
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, make_volume, transitional_of


def test_volume_round_trip_and_isolation(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    assert vol.path == str(tmp_path / f"{vol.id}.img")
    assert catalog.get_volume(session=session, volume_id=vol.id, project_id=P).id == vol.id
    with pytest.raises(RecordNotFound):
        catalog.get_volume(session=session, volume_id=vol.id, project_id=Q)
    assert [v.id for v in catalog.list_volumes(session=session, project_id=Q)] == []


def test_backup_lifecycle_success(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path, size=2)
    b = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, name="b1", metadata={"k": "v"}
    )
    assert (b.status, b.size, b.meta) == ("creating", 2, {"k": "v"})
    session.refresh(vol)
    assert (vol.status, vol.previous_status) == ("backing-up", "available")
    # A second backup of a volume already backing up is refused and changes nothing.
    with pytest.raises(InvalidStatus):
        catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    assert catalog.list_backups(session=session, project_id=P)[1] == 1
    assert catalog.finish_backup(session=session, backup_id=b.id, object_count=3, stored_bytes=10)
    assert not catalog.finish_backup(
        session=session, backup_id=b.id, object_count=3, stored_bytes=10
    )  # repeated: harmless no-op
    session.refresh(b)
    session.refresh(vol)
    assert (b.status, b.object_count, vol.status) == ("available", 3, "available")


def test_in_use_needs_force(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path, status="in-use")
    with pytest.raises(InvalidStatus):
        catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    b = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, force=True
    )
    catalog.fail_operation(session=session, backup_id=b.id, reason="boom")
    session.refresh(vol)
    session.refresh(b)
    assert (b.status, b.fail_reason, vol.status) == ("error", "boom", "in-use")


def test_restore_guards_and_new_volume(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path, size=2)
    b = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    with pytest.raises(InvalidStatus):  # not yet available
        catalog.begin_restore(
            session=session, backup_id=b.id, project_id=P, user_id="u", volumes_dir=tmp_path
        )
    catalog.finish_backup(session=session, backup_id=b.id, object_count=1, stored_bytes=1)
    small = make_volume(session, tmp_path, size=1)
    with pytest.raises(InvalidRequest):
        catalog.begin_restore(
            session=session,
            backup_id=b.id,
            project_id=P,
            user_id="u",
            volume_id=small.id,
            volumes_dir=tmp_path,
        )
    with pytest.raises(RecordNotFound):
        catalog.begin_restore(
            session=session, backup_id=b.id, project_id=Q, user_id="u", volumes_dir=tmp_path
        )
    backup, target = catalog.begin_restore(
        session=session, backup_id=b.id, project_id=P, user_id="u", volumes_dir=tmp_path
    )
    assert (backup.status, target.status, target.size) == ("restoring", "creating", 2)
    assert target.name == f"restore_backup_{b.id}"
    catalog.set_volume_status(
        session=session,
        volume_id=target.id,
        to="restoring-backup",
        expected=frozenset({"creating"}),
    )
    assert catalog.finish_restore(session=session, backup_id=b.id)
    session.refresh(target)
    assert (target.status, target.meta) == ("available", {"src_backup_id": b.id})


def test_failed_restore_into_new_volume_is_error(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    b = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    catalog.finish_backup(session=session, backup_id=b.id, object_count=1, stored_bytes=1)
    _, target = catalog.begin_restore(
        session=session,
        backup_id=b.id,
        project_id=P,
        user_id="u",
        volume_id=vol.id,
        volumes_dir=tmp_path,
    )
    assert target.id == vol.id and target.status == "restoring-backup"
    assert catalog.repair_after_run(session=session, record=target, reason="crashed")
    session.refresh(b)
    session.refresh(vol)
    assert (b.status, vol.status, vol.fail_reason) == ("available", "error_restoring", "crashed")


def test_delete_guards(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    b = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    with pytest.raises(InvalidStatus):
        catalog.begin_backup_delete(session=session, backup_id=b.id, project_id=P)
    catalog.finish_backup(session=session, backup_id=b.id, object_count=1, stored_bytes=1)
    b.num_dependent_backups = 1
    session.add(b)
    session.commit()
    with pytest.raises(InvalidRequest):
        catalog.begin_backup_delete(session=session, backup_id=b.id, project_id=P)
    b.num_dependent_backups = 0
    session.add(b)
    session.commit()
    catalog.begin_backup_delete(session=session, backup_id=b.id, project_id=P)
    catalog.fail_operation(session=session, backup_id=b.id, reason="store down")
    session.refresh(b)
    assert b.status == "error_deleting"
    catalog.begin_backup_delete(session=session, backup_id=b.id, project_id=P)
    catalog.finish_backup_delete(session=session, backup_id=b.id)
    catalog.finish_backup_delete(session=session, backup_id=b.id)
    assert session.get(Backup, b.id) is None


def test_list_paging_sorting_filters(session: Session, tmp_path: Path) -> None:
    ids = []
    for i in range(5):
        vol = make_volume(session, tmp_path)
        b = catalog.begin_backup(
            session=session, project_id=P, user_id="u", volume_id=vol.id, name=f"b{i}"
        )
        ids.append(b.id)
    rows, total = catalog.list_backups(
        session=session, project_id=P, sort=[("name", "asc")], limit=2
    )
    assert ([r.name for r in rows], total) == (["b0", "b1"], 5)
    rows, _ = catalog.list_backups(
        session=session, project_id=P, sort=[("name", "asc")], limit=2, marker=rows[-1].id
    )
    assert [r.name for r in rows] == ["b2", "b3"]
    rows, total = catalog.list_backups(session=session, project_id=P, filters={"name": "b4"})
    assert ([r.id for r in rows], total) == ([ids[4]], 1)
    assert catalog.list_backups(session=session, project_id=Q)[1] == 0
    assert catalog.list_backups(session=session, project_id=None)[1] == 5
    with pytest.raises(InvalidRequest):
        catalog.list_backups(session=session, project_id=P, sort=[("nope", "asc")])
    with pytest.raises(RecordNotFound):
        catalog.list_backups(session=session, project_id=P, marker="missing")


def test_progress_and_transitional_queries(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    b = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    catalog.update_progress(session=session, model=Backup, record_id=b.id, done=5, total=9)
    session.refresh(b)
    assert (b.progress_done, b.progress_total) == (5, 9)
    assert [x.id for x in transitional_of(catalog.Backup, session)] == [b.id]
    assert [x.id for x in transitional_of(catalog.Volume, session)] == [vol.id]
    assert catalog.repair_after_run(session=session, record=vol, reason="gone")
    session.refresh(b)
    assert b.status == "error" and transitional_of(catalog.Volume, session) == []
