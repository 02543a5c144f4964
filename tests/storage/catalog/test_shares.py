"""Share and share-backup catalog: Manila's transitions (FIELDS.md 11.2) and their guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from storage.catalog import (
    Share,
    ShareBackup,
    repair_after_run,
    share_backups,
    shares,
    update_progress,
)
from storage.catalog import ShareBackupStatus as SB
from storage.catalog import ShareStatus as SH
from storage.catalog.lifecycle import SHARE_TRANSITIONS, entering
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound, ResourceBusy

P = "proj-a"


def _share(session: Session, size: int = 2, status: str = SH.AVAILABLE) -> Share:
    share = shares.create_share(
        session=session,
        project_id=P,
        user_id="u",
        size_gb=size,
        share_proto="nfs",
        shares_dir=Path("/srv/shares"),
    )
    share.status = status
    session.add(share)
    session.commit()
    return share


def _backup(session: Session, share: Share, **options: str) -> ShareBackup:
    return share_backups.begin_share_backup(
        session=session, project_id=P, user_id="u", share_id=share.id, options=options
    )


def _finish(session: Session, backup: ShareBackup, size_bytes: int = 10) -> None:
    result = {"object_count": 2, "stored_bytes": 5, "size_bytes": size_bytes, "stats": {}}
    assert share_backups.finish_share_backup(session=session, backup_id=backup.id, result=result)


def test_a_new_share_lives_under_the_shares_dir_and_a_managed_one_where_it_is(
    session: Session,
) -> None:
    made = _share(session)
    assert made.path == f"/srv/shares/{made.id}" and not made.managed
    assert made.share_proto == "NFS"
    managed = shares.create_share(
        session=session, project_id=P, user_id="u", size_gb=1, share_proto="CIFS", path="/data/x"
    )
    assert managed.status == SH.MANAGE_STARTING and managed.managed


def test_backup_holds_the_share_and_finish_releases_it(session: Session) -> None:
    share = _share(session)
    backup = _backup(session, share)
    assert backup.status == SB.CREATING and backup.parent_id is None
    assert shares.get_share(session=session, share_id=share.id).status == SH.BACKUP_CREATING
    _finish(session, backup, size_bytes=3 * 1024**3)
    session.expire_all()
    done = share_backups.get_share_backup(session=session, backup_id=backup.id)
    assert (done.status, done.progress, done.size) == (SB.AVAILABLE, "100", 3)
    assert shares.get_share(session=session, share_id=share.id).status == SH.AVAILABLE


def test_a_busy_share_is_409_and_a_broken_one_400(session: Session) -> None:
    share = _share(session)
    _backup(session, share)
    with pytest.raises(ResourceBusy):
        _backup(session, share)
    broken = _share(session, status=SH.ERROR)
    with pytest.raises(InvalidStatus) as refused:
        _backup(session, broken)
    assert not isinstance(refused.value, ResourceBusy)
    assert shares.get_share(session=session, share_id=broken.id).status == SH.ERROR


def test_the_next_backup_is_incremental_unless_full_is_asked(session: Session) -> None:
    share = _share(session)
    first = _backup(session, share)
    _finish(session, first)
    second = _backup(session, share)
    assert second.parent_id == first.id
    _finish(session, second)
    full = _backup(session, share, full="true")
    assert full.parent_id is None and full.options == {"full": "true"}


def test_a_parent_cannot_be_deleted_while_its_child_is_created(session: Session) -> None:
    share = _share(session)
    parent = _backup(session, share)
    _finish(session, parent)
    child = _backup(session, share)
    with pytest.raises(InvalidStatus):
        share_backups.begin_share_backup_delete(session=session, backup_id=parent.id, project_id=P)
    _finish(session, child)
    deleting = share_backups.begin_share_backup_delete(
        session=session, backup_id=parent.id, project_id=P
    )
    assert deleting.status == SB.DELETING


def test_restore_holds_both_and_a_failed_run_leaves_backup_restoring_error(
    session: Session,
) -> None:
    share = _share(session)
    backup = _backup(session, share)
    _finish(session, backup)
    restoring = share_backups.begin_share_restore(
        session=session, backup_id=backup.id, project_id=P
    )
    assert (restoring.status, restoring.restore_share_id) == (SB.RESTORING, share.id)
    assert shares.get_share(session=session, share_id=share.id).status == SH.BACKUP_RESTORING
    assert share_backups.fail_share_backup(session=session, backup_id=backup.id, reason="boom")
    session.expire_all()
    assert share_backups.get_share_backup(session=session, backup_id=backup.id).status == (
        SB.AVAILABLE
    )
    failed = shares.get_share(session=session, share_id=share.id)
    assert (failed.status, failed.fail_reason) == (SH.BACKUP_RESTORING_ERROR, "boom")
    # Another restore may repair the share; a backup may not start from there.
    again = share_backups.begin_share_restore(session=session, backup_id=backup.id, project_id=P)
    assert again.status == SB.RESTORING


def test_restore_onto_a_smaller_share_changes_nothing(session: Session) -> None:
    big = _share(session, size=5)
    backup = _backup(session, big)
    _finish(session, backup)
    small = _share(session, size=1)
    with pytest.raises(InvalidRequest):
        share_backups.begin_share_restore(
            session=session, backup_id=backup.id, project_id=P, target_share_id=small.id
        )
    session.expire_all()
    assert shares.get_share(session=session, share_id=small.id).status == SH.AVAILABLE
    assert share_backups.get_share_backup(session=session, backup_id=backup.id).status == (
        SB.AVAILABLE
    )


def test_another_projects_rows_are_not_found(session: Session) -> None:
    share = _share(session)
    backup = _backup(session, share)
    with pytest.raises(RecordNotFound):
        share_backups.get_share_backup(session=session, backup_id=backup.id, project_id="other")
    with pytest.raises(RecordNotFound):
        shares.get_share(session=session, share_id=share.id, project_id="other")


def test_repair_fails_the_backup_that_holds_a_share(session: Session) -> None:
    share = _share(session)
    backup = _backup(session, share)
    held = shares.get_share(session=session, share_id=share.id)
    assert repair_after_run(session=session, record=held, reason="run crashed")
    session.expire_all()
    failed = share_backups.get_share_backup(session=session, backup_id=backup.id)
    assert (failed.status, failed.fail_reason) == (SB.ERROR, "run crashed")
    assert shares.get_share(session=session, share_id=share.id).status == SH.AVAILABLE


def test_progress_moves_the_percentage_of_the_running_operation(session: Session) -> None:
    share = _share(session)
    backup = _backup(session, share)
    update_progress(session=session, model=ShareBackup, record_id=backup.id, done=25, total=100)
    session.expire_all()
    shown = share_backups.get_share_backup(session=session, backup_id=backup.id)
    assert (shown.progress, shown.restore_progress) == ("25", "0")


def test_list_filters_and_sorts(session: Session) -> None:
    share = _share(session)
    names = ["alpha", "beta", "Alphabet"]
    for name in names:
        backup = _backup(session, share)
        share_backups.update_share_backup(
            session=session, backup_id=backup.id, project_id=P, changes={"name": name}
        )
        _finish(session, backup)
    rows, total = share_backups.list_share_backups(
        session=session, project_id=P, filters={"name~": "alpha"}, sort=[("name", "asc")]
    )
    assert [r.name for r in rows] == ["Alphabet", "alpha"] and total == 2
    with pytest.raises(InvalidRequest):
        share_backups.list_share_backups(session=session, project_id=P, filters={"bogus": "1"})


def test_delete_and_unmanage_follow_the_transition_table(session: Session) -> None:
    assert entering(SHARE_TRANSITIONS, SH.DELETING) >= {SH.AVAILABLE, SH.ERROR}
    share = _share(session)
    _backup(session, share)
    with pytest.raises(ResourceBusy):  # backup_creating: Manila's 409
        shares.begin_share_delete(session=session, share_id=share.id, project_id=P)
    other = _share(session)
    going = shares.begin_share_delete(
        session=session, share_id=other.id, project_id=P, unmanage=True
    )
    assert going.status == SH.UNMANAGE_STARTING
    shares.delete_share_row(session=session, share_id=other.id)
    with pytest.raises(RecordNotFound):
        shares.get_share(session=session, share_id=other.id)
