"""A restore onto a volume and a snapshot of it never overlap: whichever begins second is
refused, in either order and when both race (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Snapshot, Volume
from storage.errors import InvalidStatus
from tests.storage.catalog.seed import P, available_backup, every_row, make_volume


def _restore(session: Session, backup_id: str, volume_id: str, tmp_path: Path) -> object:
    return catalog.begin_restore(
        session=session,
        backup_id=backup_id,
        project_id=P,
        user_id="u",
        volume_id=volume_id,
        volumes_dir=tmp_path,
    )


def _snapshot(session: Session, volume_id: str, tmp_path: Path) -> Snapshot:
    return catalog.begin_snapshot(
        session=session,
        project_id=P,
        user_id="u",
        volume_id=volume_id,
        snapshots_dir=tmp_path / "snapshots",
    )


def test_restore_is_refused_while_a_snapshot_is_being_created(
    session: Session, tmp_path: Path
) -> None:
    target = make_volume(session, tmp_path)
    backup = available_backup(session, make_volume(session, tmp_path))
    snapshot = _snapshot(session, target.id, tmp_path)
    before = every_row(session)
    with pytest.raises(InvalidStatus, match="snapshot of volume .* is being created"):
        _restore(session, backup.id, target.id, tmp_path)
    assert every_row(session) == before
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot.id)
    _restore(session, backup.id, target.id, tmp_path)  # allowed once it is available


def test_snapshot_is_refused_while_a_restore_writes_the_volume(
    session: Session, tmp_path: Path
) -> None:
    target = make_volume(session, tmp_path)
    backup = available_backup(session, make_volume(session, tmp_path))
    _restore(session, backup.id, target.id, tmp_path)
    before = every_row(session)
    with pytest.raises(InvalidStatus):
        _snapshot(session, target.id, tmp_path)
    assert every_row(session) == before


@pytest.mark.parametrize("attempt", range(5))
def test_racing_restore_and_snapshot_never_both_begin(
    engine: Engine, session: Session, tmp_path: Path, attempt: int
) -> None:
    target = make_volume(session, tmp_path)
    backup = available_backup(session, make_volume(session, tmp_path))
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def race(name: str, work: object) -> None:
        with Session(engine) as s:
            barrier.wait()
            try:
                outcomes[name] = work(s)  # type: ignore[operator]
            except Exception as exc:  # collected for the assertions
                outcomes[name] = exc

    threads = [
        threading.Thread(
            target=race, args=("restore", lambda s: _restore(s, backup.id, target.id, tmp_path))
        ),
        threading.Thread(
            target=race, args=("snapshot", lambda s: _snapshot(s, target.id, tmp_path))
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    began = [name for name, result in outcomes.items() if not isinstance(result, Exception)]
    assert len(began) == 1, outcomes
    session.expire_all()
    snapshots = session.exec(select(Snapshot).where(Snapshot.volume_id == target.id)).all()
    volume = session.get(Volume, target.id)
    assert volume is not None
    if began == ["restore"]:
        assert (volume.status, snapshots) == ("restoring-backup", [])
    else:
        assert volume.status == "available" and [s.status for s in snapshots] == ["creating"]
