"""Volume attachments and forced backups' temporary copies in the catalog, on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from storage import catalog
from storage.errors import InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, every_row, make_volume


def test_attach_and_detach(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    att = catalog.attach_volume(
        session=session,
        volume_id=vol.id,
        project_id=P,
        mountpoint="/dev/vdb",
        instance_uuid="5f0f5b1c-1b2f-4bd5-9f4b-0e6d2a7c9d11",
    )
    session.refresh(vol)
    assert vol.status == "in-use"
    assert [a.id for a in catalog.attachments_of(session=session, volume_ids=[vol.id])[vol.id]] == [
        att.id
    ]
    before = every_row(session)
    with pytest.raises(InvalidStatus):
        catalog.attach_volume(session=session, volume_id=vol.id, project_id=P, mountpoint="/x")
    with pytest.raises(RecordNotFound):
        catalog.detach_volume(session=session, volume_id=vol.id, project_id=P, attachment_id="nope")
    with pytest.raises(RecordNotFound):
        catalog.detach_volume(session=session, volume_id=vol.id, project_id=Q)
    with pytest.raises(InvalidStatus):  # attached volumes are not deletable either
        catalog.begin_volume_delete(session=session, volume_id=vol.id, project_id=P)
    assert every_row(session) == before
    catalog.detach_volume(session=session, volume_id=vol.id, project_id=P, attachment_id=att.id)
    session.refresh(vol)
    assert vol.status == "available"
    assert catalog.attachments_of(session=session, volume_ids=[vol.id]) == {}
    with pytest.raises(InvalidStatus):
        catalog.detach_volume(session=session, volume_id=vol.id, project_id=P)


def test_clear_attachments(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    catalog.attach_volume(session=session, volume_id=vol.id, project_id=None, mountpoint="/dev/b")
    assert catalog.clear_attachments(session=session, volume_id=vol.id) == 1
    assert catalog.attachments_of(session=session, volume_ids=[vol.id]) == {}
    assert catalog.attachments_of(session=session, volume_ids=[]) == {}


def test_temp_snapshot_bookkeeping(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path, status="in-use")
    backup = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, force=True
    )
    catalog.record_temp_snapshot(session=session, backup_id=backup.id, path="/tmp/t.img")
    # While its run creates the backup the copy is in use: not a leftover.
    assert catalog.leftover_temp_snapshots(session=session) == []
    catalog.fail_operation(session=session, backup_id=backup.id, reason="crashed")
    assert [b.id for b in catalog.leftover_temp_snapshots(session=session)] == [backup.id]
    catalog.forget_temp_snapshot(session=session, backup_id=backup.id)
    catalog.forget_temp_snapshot(session=session, backup_id=backup.id)
    assert catalog.leftover_temp_snapshots(session=session) == []
    assert "temp_snapshot_path" not in catalog.backup_record(backup)
