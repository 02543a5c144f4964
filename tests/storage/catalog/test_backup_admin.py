"""Backup update, reset-status, force-delete and list filters, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from storage import catalog
from storage.catalog import Backup
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, make_volume


def _backup(
    session: Session, tmp_path: Path, *, name: str = "b", project: str = P, finish: bool = True
) -> Backup:
    volume = make_volume(session, tmp_path, project=project)
    backup = catalog.begin_backup(
        session=session, project_id=project, user_id="u", volume_id=volume.id, name=name
    )
    if finish:
        assert catalog.finish_backup(
            session=session, backup_id=backup.id, object_count=1, stored_bytes=1
        )
        session.refresh(backup)
    return backup


def test_update_sets_fields_and_replaces_metadata(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path)
    catalog.update_backup(
        session=session, backup_id=backup.id, project_id=P, changes={"meta": {"a": "1", "b": "2"}}
    )
    updated = catalog.update_backup(
        session=session,
        backup_id=backup.id,
        project_id=P,
        changes={"name": "new", "description": None, "meta": {"c": "3"}},
    )
    assert (updated.name, updated.description, updated.meta) == ("new", None, {"c": "3"})
    assert updated.status == "available"
    assert updated.updated_at is not None


def test_update_of_another_project_or_bad_key(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path)
    with pytest.raises(RecordNotFound):
        catalog.update_backup(session=session, backup_id=backup.id, project_id=Q, changes={})
    with pytest.raises(ValueError):
        catalog.update_backup(
            session=session, backup_id=backup.id, project_id=P, changes={"status": "error"}
        )
    session.refresh(backup)
    assert backup.status == "available"


def test_reset_creating_to_error_releases_the_volume(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path, finish=False)
    reset = catalog.reset_backup_status(session=session, backup_id=backup.id, status="ERROR")
    volume = catalog.get_volume(session=session, volume_id=backup.volume_id)
    assert reset.status == "error"
    assert reset.fail_reason == "status reset from creating by an administrator"
    assert (volume.status, volume.previous_status) == ("available", None)
    # The create run finishing late changes nothing any more.
    assert not catalog.finish_backup(
        session=session, backup_id=backup.id, object_count=1, stored_bytes=1
    )
    session.refresh(reset)
    assert reset.status == "error"


def test_reset_to_available_clears_fail_reason(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path, finish=False)
    catalog.reset_backup_status(session=session, backup_id=backup.id, status="error")
    reset = catalog.reset_backup_status(session=session, backup_id=backup.id, status="available")
    assert (reset.status, reset.fail_reason) == ("available", None)


def test_reset_restoring_fails_the_restore_target(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path)
    target = make_volume(session, tmp_path)
    catalog.begin_restore(
        session=session,
        backup_id=backup.id,
        project_id=P,
        user_id="u",
        volume_id=target.id,
        volumes_dir=tmp_path,
    )
    reset = catalog.reset_backup_status(session=session, backup_id=backup.id, status="error")
    session.refresh(target)
    assert reset.status == "error"
    assert target.status == "error_restoring"


@pytest.mark.parametrize("status", ["deleting", "creating", "restoring", "bogus"])
def test_reset_to_other_statuses_is_refused(session: Session, tmp_path: Path, status: str) -> None:
    backup = _backup(session, tmp_path)
    with pytest.raises(InvalidRequest):
        catalog.reset_backup_status(session=session, backup_id=backup.id, status=status)
    session.refresh(backup)
    assert backup.status == "available"


def test_reset_of_a_missing_backup(session: Session) -> None:
    with pytest.raises(RecordNotFound):
        catalog.reset_backup_status(session=session, backup_id="nope", status="error")


def test_force_delete_refuses_a_backup_being_created(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path, finish=False)
    with pytest.raises(InvalidStatus, match="still being created"):
        catalog.begin_backup_force_delete(session=session, backup_id=backup.id)
    session.refresh(backup)
    volume = catalog.get_volume(session=session, volume_id=backup.volume_id)
    assert (backup.status, volume.status) == ("creating", "backing-up")


def test_force_delete_of_a_restoring_backup_fails_the_restore(
    session: Session, tmp_path: Path
) -> None:
    backup = _backup(session, tmp_path)
    catalog.begin_restore(
        session=session, backup_id=backup.id, project_id=P, user_id="u", volumes_dir=tmp_path
    )
    session.refresh(backup)
    token, target_id = backup.op_token, backup.restore_volume_id
    deleting = catalog.begin_backup_force_delete(session=session, backup_id=backup.id)
    target = catalog.get_volume(session=session, volume_id=target_id or "")
    assert (deleting.status, deleting.fail_reason) == ("deleting", None)
    assert deleting.op_token not in (None, token)
    assert target.status == "error"  # a volume made for the restore never held data


@pytest.mark.parametrize("status", ["available", "error", "error_deleting", "deleting"])
def test_force_delete_from_any_status(session: Session, tmp_path: Path, status: str) -> None:
    backup = _backup(session, tmp_path)
    backup.status = status
    session.add(backup)
    session.commit()
    assert catalog.begin_backup_force_delete(session=session, backup_id=backup.id).status == (
        "deleting"
    )


def test_force_delete_refuses_a_backup_with_dependents(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, tmp_path)
    backup.num_dependent_backups = 1
    session.add(backup)
    session.commit()
    with pytest.raises(InvalidRequest, match="Incremental backups exist"):
        catalog.begin_backup_force_delete(session=session, backup_id=backup.id)
    session.refresh(backup)
    assert backup.status == "available"


def test_like_filters_match_substrings_case_insensitively(session: Session, tmp_path: Path) -> None:
    for name in ("Nightly-1", "nightly-2", "weekly", "100%_sure"):
        _backup(session, tmp_path, name=name)
    rows, total = catalog.list_backups(session=session, project_id=P, filters={"name~": "NIGHT"})
    assert sorted(b.name or "" for b in rows) == ["Nightly-1", "nightly-2"]
    assert total == 2
    # % and _ are literal, not wildcards.
    rows, _ = catalog.list_backups(session=session, project_id=P, filters={"name~": "%_"})
    assert [b.name for b in rows] == ["100%_sure"]
    rows, _ = catalog.list_backups(session=session, project_id=P, filters={"status~": "vail"})
    assert len(rows) == 4


def test_admin_column_filters(session: Session, tmp_path: Path) -> None:
    _backup(session, tmp_path, project=P)
    theirs = _backup(session, tmp_path, project=Q)
    rows, _ = catalog.list_backups(session=session, project_id=None, filters={"project_id": Q})
    assert [b.id for b in rows] == [theirs.id]
    with pytest.raises(InvalidRequest):
        catalog.list_backups(session=session, project_id=None, filters={"colour": "red"})
