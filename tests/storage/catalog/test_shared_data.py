"""Rows sharing one stored backup: the data goes with the last row that reads it, and a
catalog rebuild recreates one row per stored backup that no row reads."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlmodel import Session

from storage import catalog
from storage.catalog import Backup, BackupStatus
from storage.catalog.shared_data import being_released, readers
from storage.errors import InvalidStatus
from tests.storage.catalog.seed import P, make_volume
from tests.storage.catalog.stored import add_row


def _share(session: Session, original: Backup) -> Backup:
    """A row imported under a new id that reads ``original``'s stored backup."""
    row = Backup(
        id=str(uuid.uuid4()),
        data_id=original.data_id,
        project_id=P,
        user_id="u",
        volume_id=original.volume_id,
        status=BackupStatus.AVAILABLE,
        size=1,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def _deleting(session: Session, backup: Backup) -> None:
    catalog.begin_backup_delete(session=session, backup_id=backup.id, project_id=P)


def test_a_new_row_reads_its_own_data(session: Session, tmp_path: Path) -> None:
    backup = add_row(session, project=P, volume_id=make_volume(session, tmp_path).id)
    assert backup.data_id == backup.id
    assert [r.id for r in readers(session=session, data_id=backup.id)] == [backup.id]


def test_shared_data_is_kept_until_the_last_reader_goes(session: Session, tmp_path: Path) -> None:
    original = add_row(session, project=P, volume_id=make_volume(session, tmp_path).id)
    imported = _share(session, original)
    _deleting(session, original)
    release = catalog.plan_release(session=session, backup_id=original.id)
    assert release == catalog.DataRelease(data_id=original.id, shared=True)
    catalog.finish_backup_delete(session=session, backup_id=original.id)
    assert not catalog.is_unread(session=session, data_id=original.id)

    _deleting(session, imported)
    release = catalog.plan_release(session=session, backup_id=imported.id)
    assert release == catalog.DataRelease(data_id=original.id, shared=False)
    catalog.finish_backup_delete(session=session, backup_id=imported.id)
    assert catalog.is_unread(session=session, data_id=original.id)
    assert catalog.plan_release(session=session, backup_id=imported.id) is None


def test_concurrent_deletes_of_every_sharer_leave_one_to_delete_the_data(
    session: Session, tmp_path: Path
) -> None:
    original = add_row(session, project=P, volume_id=make_volume(session, tmp_path).id)
    imported = _share(session, original)
    _deleting(session, original)
    _deleting(session, imported)
    assert being_released(session=session, data_id=original.id)
    # Both runs plan while the other's row still exists: each sees the data shared.
    plans = [catalog.plan_release(session=session, backup_id=b.id) for b in (original, imported)]
    assert [p.shared for p in plans if p is not None] == [True, True]
    catalog.finish_backup_delete(session=session, backup_id=original.id)
    first_out = catalog.is_unread(session=session, data_id=original.id)
    catalog.finish_backup_delete(session=session, backup_id=imported.id)
    last_out = catalog.is_unread(session=session, data_id=original.id)
    assert (first_out, last_out) == (False, True)


def test_release_is_refused_unless_deleting(session: Session, tmp_path: Path) -> None:
    backup = add_row(session, project=P, volume_id=make_volume(session, tmp_path).id)
    with pytest.raises(InvalidStatus):
        catalog.plan_release(session=session, backup_id=backup.id)
    assert not being_released(session=session, data_id=backup.id)


def test_rebuild_skips_stored_backups_a_row_reads(session: Session, tmp_path: Path) -> None:
    original = add_row(session, project=P, volume_id=make_volume(session, tmp_path).id)
    record = catalog.backup_record(original)
    imported = _share(session, original)
    session.delete(session.get(Backup, original.id))
    session.commit()

    # The import still reads the stored backup: no second row is made for it.
    result = catalog.rebuild_backups(session=session, records=[record])
    assert (result.inserted, result.existing) == (0, 1)

    session.delete(session.get(Backup, imported.id))
    session.commit()
    result = catalog.rebuild_backups(session=session, records=[record])
    assert result.inserted_ids == (original.id,)
    rebuilt = session.get(Backup, original.id)
    assert rebuilt is not None and rebuilt.data_id == original.id
