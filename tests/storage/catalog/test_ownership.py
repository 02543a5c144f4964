"""A run owns only the transition it was started for: a new operation starts with no run
id (so no earlier run can settle it), and a late run releases nothing it no longer holds."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from storage import catalog
from storage.catalog import Backup, Snapshot, Volume
from tests.storage.catalog.seed import P, available_backup, make_volume

OLD_RUN = "11111111-1111-1111-1111-111111111111"


def _ran(session: Session, record: Backup | Volume | Snapshot) -> None:
    """Record that an earlier operation's run drove the row."""
    catalog.attach_flow_run(session=session, record=record, flow_run_id=OLD_RUN)


def test_a_new_restore_forgets_the_previous_run(session: Session, tmp_path: Path) -> None:
    volume = make_volume(session, tmp_path)
    backup = available_backup(session, volume)
    _ran(session, backup)  # e.g. an earlier restore whose run failed
    backup, _ = catalog.begin_restore(
        session=session, backup_id=backup.id, project_id=P, user_id="u", volumes_dir=tmp_path
    )
    assert (backup.status, backup.flow_run_id) == ("restoring", None)


def test_a_new_delete_forgets_the_previous_run(session: Session, tmp_path: Path) -> None:
    volume = make_volume(session, tmp_path)
    backup = available_backup(session, volume)
    _ran(session, backup)
    deleting = catalog.begin_backup_delete(session=session, backup_id=backup.id, project_id=P)
    assert (deleting.status, deleting.flow_run_id) == ("deleting", None)

    other = available_backup(session, make_volume(session, tmp_path))
    _ran(session, other)
    (member,) = catalog.begin_cascade_delete(session=session, backup_id=other.id, project_id=P)
    assert (member.status, member.flow_run_id) == ("deleting", None)

    spare = make_volume(session, tmp_path)
    _ran(session, spare)
    gone = catalog.begin_volume_delete(session=session, volume_id=spare.id, project_id=P)
    assert (gone.status, gone.flow_run_id) == ("deleting", None)


def test_a_new_snapshot_delete_forgets_the_previous_run(session: Session, tmp_path: Path) -> None:
    volume = make_volume(session, tmp_path)
    snapshot = catalog.begin_snapshot(
        session=session,
        project_id=P,
        user_id="u",
        volume_id=volume.id,
        snapshots_dir=tmp_path / "snapshots",
    )
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot.id)
    _ran(session, snapshot)
    deleting = catalog.begin_snapshot_delete(session=session, snapshot_id=snapshot.id, project_id=P)
    assert (deleting.status, deleting.flow_run_id) == ("deleting", None)


def test_a_late_backup_run_does_not_release_a_volume_held_by_another(
    session: Session, tmp_path: Path
) -> None:
    volume = make_volume(session, tmp_path)
    first = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=volume.id)
    # An admin reset ends the first backup; the volume goes back and a second one starts.
    assert catalog.fail_operation(session=session, backup_id=first.id, reason="reset")
    second = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=volume.id)
    # The first run, still going, reaches its last step.
    assert not catalog.finish_backup(
        session=session, backup_id=first.id, object_count=1, stored_bytes=1
    )
    session.refresh(volume)
    assert volume.status == "backing-up"  # still held by the second backup
    assert catalog.finish_backup(
        session=session, backup_id=second.id, object_count=1, stored_bytes=1
    )
    session.refresh(volume)
    assert volume.status == "available"


def test_a_late_restore_run_does_not_release_a_target_held_by_another(
    session: Session, tmp_path: Path
) -> None:
    source = make_volume(session, tmp_path)
    first, second = available_backup(session, source), available_backup(session, source)
    target = make_volume(session, tmp_path)
    catalog.begin_restore(
        session=session,
        backup_id=first.id,
        project_id=P,
        user_id="u",
        volume_id=target.id,
        volumes_dir=tmp_path,
    )
    assert catalog.fail_operation(session=session, backup_id=first.id, reason="reset")
    catalog.reset_volume_status(session=session, volume_id=target.id, status="available")
    catalog.begin_restore(
        session=session,
        backup_id=second.id,
        project_id=P,
        user_id="u",
        volume_id=target.id,
        volumes_dir=tmp_path,
    )
    assert not catalog.finish_restore(session=session, backup_id=first.id)
    session.refresh(target)
    assert target.status == "restoring-backup"  # the second restore still writes into it
    assert catalog.finish_restore(session=session, backup_id=second.id)
    session.refresh(target)
    assert target.status == "available"
