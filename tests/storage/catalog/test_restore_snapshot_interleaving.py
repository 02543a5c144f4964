"""The restore guard against a snapshot being created, with both transactions open at
once in a fixed order (SQLite and PostgreSQL): the one that holds the volume row first
wins, the other waits for its commit and is refused.

The first transaction is paused inside its commit (its row lock held); the second is
started and, on PostgreSQL, seen waiting for that lock before the first is let go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Backup, Snapshot, Volume, lifecycle
from storage.errors import InvalidStatus
from tests.storage.catalog.seed import P, available_backup, make_volume

TIMEOUT = 30.0


class PausingSession(Session):
    """A session that stops in commit() until released, its transaction still open."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.reached = threading.Event()
        self.release = threading.Event()

    def commit(self) -> None:
        """Signal `reached`, wait for `release`, then commit."""
        self.reached.set()
        assert self.release.wait(TIMEOUT)
        super().commit()


class Worker(threading.Thread):
    """Runs work(session) in its own session; keeps the result or the exception."""

    def __init__(self, session: Session, work: Callable[[Session], object]) -> None:
        super().__init__(daemon=True)
        self.session, self.work = session, work
        self.result: object = None
        self.pid: int | None = None  # the PostgreSQL backend, known once `ready` is set
        self.ready = threading.Event()

    def run(self) -> None:
        with self.session as s:
            if s.get_bind().dialect.name == "postgresql":
                self.pid = int(s.connection().exec_driver_sql("SELECT pg_backend_pid()").one()[0])
            self.ready.set()
            try:
                self.result = self.work(s)
            except Exception as exc:  # collected for the assertions
                self.result = exc


def _wait_until_blocked(engine: Engine, worker: Worker) -> None:
    """Until `worker` waits for a row lock: seen in pg_stat_activity on PostgreSQL;
    SQLite's busy wait cannot be observed, so there a short pause must do (the outcome
    is the same if the worker reaches its write only after the release)."""
    assert worker.ready.wait(TIMEOUT)
    if worker.pid is None:
        worker.join(0.3)
        assert worker.is_alive()
        return
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with engine.connect() as conn:  # a new transaction: pg_stat_activity is re-read
            query = f"SELECT wait_event_type FROM pg_stat_activity WHERE pid = {worker.pid}"
            if conn.exec_driver_sql(query).scalar() == "Lock":
                return
        time.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


def _backup(session: Session, tmp_path: Path) -> Backup:
    return available_backup(session, make_volume(session, tmp_path))


def _restore(backup_id: str, volume_id: str, tmp_path: Path) -> Callable[[Session], object]:
    return lambda s: catalog.begin_restore(
        session=s,
        backup_id=backup_id,
        project_id=P,
        user_id="u",
        volume_id=volume_id,
        volumes_dir=tmp_path,
    )


def _snapshot(volume_id: str, tmp_path: Path) -> Callable[[Session], object]:
    return lambda s: catalog.begin_snapshot(
        session=s,
        project_id=P,
        user_id="u",
        volume_id=volume_id,
        snapshots_dir=tmp_path / "snapshots",
    )


def _interleave(
    engine: Engine, first: Callable[[Session], object], second: Callable[[Session], object]
) -> tuple[object, object]:
    """`first` runs to its commit and pauses there; `second` starts and waits for it;
    then `first` commits. The two outcomes."""
    pausing = PausingSession(engine)
    holder = Worker(pausing, first)
    holder.start()
    assert pausing.reached.wait(TIMEOUT)
    waiter = Worker(Session(engine), second)
    waiter.start()
    _wait_until_blocked(engine, waiter)
    pausing.release.set()
    for worker in (holder, waiter):
        worker.join(TIMEOUT)
        assert not worker.is_alive()
    return holder.result, waiter.result


def _state(session: Session, volume_id: str) -> tuple[str, list[str]]:
    session.expire_all()
    volume = session.get(Volume, volume_id)
    assert volume is not None
    found = session.exec(select(Snapshot).where(Snapshot.volume_id == volume_id)).all()
    return volume.status, [s.status for s in found]


def test_the_table_names_creating_snapshots_as_blocking_restores() -> None:
    assert lifecycle.snapshots_blocking("available", "restoring-backup") == {"creating"}
    assert lifecycle.snapshots_blocking("available", "backing-up") == frozenset()


def test_a_snapshot_create_holding_the_volume_makes_the_waiting_restore_fail(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    target = make_volume(session, tmp_path)
    backup = _backup(session, tmp_path)
    made, refused = _interleave(
        engine, _snapshot(target.id, tmp_path), _restore(backup.id, target.id, tmp_path)
    )
    assert isinstance(made, Snapshot) and made.status == "creating"
    assert isinstance(refused, InvalidStatus)
    assert "is being created" in str(refused)
    assert _state(session, target.id) == ("available", ["creating"])
    session.refresh(backup)
    assert backup.status == "available"


def test_a_restore_holding_the_volume_makes_the_waiting_snapshot_create_fail(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    target = make_volume(session, tmp_path)
    backup = _backup(session, tmp_path)
    began, refused = _interleave(
        engine, _restore(backup.id, target.id, tmp_path), _snapshot(target.id, tmp_path)
    )
    assert isinstance(began, tuple) and began[1].status == "restoring-backup"
    assert isinstance(refused, InvalidStatus)
    assert "status must be available" in str(refused)
    assert _state(session, target.id) == ("restoring-backup", [])


@pytest.mark.parametrize("status", ["available", "error", "backing-up", "deleting"])
def test_snapshots_in_other_statuses_do_not_block_a_restore(
    session: Session, tmp_path: Path, status: str
) -> None:
    target = make_volume(session, tmp_path)
    backup = _backup(session, tmp_path)
    snapshot = _snapshot(target.id, tmp_path)(session)
    assert isinstance(snapshot, Snapshot)
    catalog.reset_snapshot_status(session=session, snapshot_id=snapshot.id, status=status)
    _, volume = catalog.begin_restore(
        session=session,
        backup_id=backup.id,
        project_id=P,
        user_id="u",
        volume_id=target.id,
        volumes_dir=tmp_path,
    )
    assert volume.status == "restoring-backup"
