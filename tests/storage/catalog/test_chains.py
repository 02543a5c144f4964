"""Incremental chains in the catalog (SQLite and PostgreSQL): parents, counts, cascades."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import catalog
from storage.catalog import Backup, Volume
from storage.catalog.chains import add_dependent, drop_dependent
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, every_row, make_volume


def _backup(session: Session, volume: Volume, *, incremental: bool = False) -> Backup:
    """A committed (available) backup of the volume; the volume is available again after."""
    b = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=volume.id, incremental=incremental
    )
    catalog.finish_backup(session=session, backup_id=b.id, object_count=1, stored_bytes=1)
    session.refresh(b)
    return b


def _set(session: Session, backup: Backup, **values: Any) -> None:
    for key, value in values.items():
        setattr(backup, key, value)
    session.add(backup)
    session.commit()
    session.refresh(backup)


def _row(session: Session, backup_id: str) -> Backup:
    session.expire_all()
    row = session.get(Backup, backup_id)
    assert row is not None
    return row


def test_parent_is_the_newest_available_backup_by_data_timestamp(
    session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    older, newer, newest = (_backup(session, vol) for _ in range(3))
    base = older.data_timestamp
    # data_timestamp, not creation order, decides; only available backups qualify.
    _set(session, older, data_timestamp=base + timedelta(hours=2))
    _set(session, newer, data_timestamp=base + timedelta(hours=1))
    _set(session, newest, data_timestamp=base + timedelta(hours=3), status="error")
    other_vol = make_volume(session, tmp_path)
    _set(session, _backup(session, other_vol), data_timestamp=base + timedelta(hours=9))

    child = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, incremental=True
    )
    assert child.parent_id == older.id and child.is_incremental
    assert _row(session, older.id).num_dependent_backups == 1
    assert _row(session, older.id).has_dependent_backups
    assert _row(session, newer.id).num_dependent_backups == 0
    # The snapshot hook: only backups whose data predates the snapshot qualify.
    picked = catalog.select_parent(
        session=session,
        volume_id=vol.id,
        project_id=P,
        taken_before=base + timedelta(hours=1, minutes=30),
    )
    assert picked is not None and picked.id == newer.id
    assert catalog.select_parent(session=session, volume_id=vol.id, project_id=Q) is None


def test_incremental_without_a_parent_is_refused_and_changes_nothing(
    session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    failed = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=vol.id)
    catalog.fail_operation(session=session, backup_id=failed.id, reason="boom")
    with pytest.raises(InvalidRequest, match="No backups available to do an incremental backup"):
        catalog.begin_backup(
            session=session, project_id=P, user_id="u", volume_id=vol.id, incremental=True
        )
    session.expire_all()
    assert catalog.get_volume(session=session, volume_id=vol.id).status == "available"
    assert catalog.list_backups(session=session, project_id=P)[1] == 1


def test_parent_that_stops_being_available_refuses_the_child(
    session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    parent = _backup(session, vol)
    # The parent leaves `available` between the choice and the count (a racing delete).
    assert catalog.select_parent(session=session, volume_id=vol.id, project_id=P) is not None
    _set(session, parent, status="deleting")
    assert not add_dependent(session=session, parent_id=parent.id)
    session.rollback()
    _set(session, parent, status="available")
    catalog.begin_backup_delete(session=session, backup_id=parent.id, project_id=P)
    with pytest.raises(InvalidRequest):
        catalog.begin_backup(
            session=session, project_id=P, user_id="u", volume_id=vol.id, incremental=True
        )
    assert _row(session, parent.id).num_dependent_backups == 0
    assert catalog.get_volume(session=session, volume_id=vol.id).status == "available"


def test_dependent_counts_follow_children_and_guard_the_parent(
    session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    full = _backup(session, vol)
    first = _backup(session, vol, incremental=True)
    second = _backup(session, vol, incremental=True)
    assert (first.parent_id, second.parent_id) == (full.id, first.id)
    assert [_row(session, b.id).num_dependent_backups for b in (full, first, second)] == [1, 1, 0]
    for parent in (full, first):
        with pytest.raises(InvalidRequest, match="Incremental backups exist"):
            catalog.begin_backup_delete(session=session, backup_id=parent.id, project_id=P)
        assert _row(session, parent.id).status == "available"
    catalog.begin_backup_delete(session=session, backup_id=second.id, project_id=P)
    catalog.finish_backup_delete(session=session, backup_id=second.id)
    catalog.finish_backup_delete(session=session, backup_id=second.id)  # idempotent
    assert _row(session, first.id).num_dependent_backups == 0
    assert not _row(session, first.id).has_dependent_backups
    catalog.begin_backup_delete(session=session, backup_id=first.id, project_id=P)
    assert _row(session, full.id).num_dependent_backups == 1  # until first's row is gone
    catalog.finish_backup_delete(session=session, backup_id=first.id)
    assert _row(session, full.id).num_dependent_backups == 0
    # A failed child still counts: its row names the parent until it is deleted.
    failed = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, incremental=True
    )
    catalog.fail_operation(session=session, backup_id=failed.id, reason="boom")
    assert failed.parent_id == full.id
    assert _row(session, full.id).num_dependent_backups == 1
    with pytest.raises(InvalidRequest):
        catalog.begin_backup_delete(session=session, backup_id=full.id, project_id=P)


def test_a_stale_zero_count_still_refuses_a_parent_with_children(
    session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    full = _backup(session, vol)
    _backup(session, vol, incremental=True)
    _set(session, _row(session, full.id), num_dependent_backups=0)
    with pytest.raises(InvalidRequest, match="Incremental backups exist"):
        catalog.begin_backup_delete(session=session, backup_id=full.id, project_id=P)


def _in_threads(engine: Engine, n: int, work: Callable[[Session], object]) -> list[object]:
    """Run work(session) in n threads at once (own session each); results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        with Session(engine) as s:
            barrier.wait()
            try:
                results[i] = work(s)
            except Exception as exc:  # collected for the assertions
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_dependent_counts_are_atomic_under_concurrency(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    parent = _backup(session, make_volume(session, tmp_path))

    def add(s: Session) -> bool:
        done = add_dependent(session=s, parent_id=parent.id)
        s.commit()
        return done

    def drop(s: Session) -> None:
        drop_dependent(session=s, parent_id=parent.id)
        s.commit()

    assert _in_threads(engine, 8, add) == [True] * 8
    assert _row(session, parent.id).num_dependent_backups == 8
    _in_threads(engine, 10, drop)
    assert _row(session, parent.id).num_dependent_backups == 0  # never below zero


def test_two_concurrent_incrementals_of_one_volume_one_wins(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    full = _backup(session, vol)

    def create(s: Session) -> Backup:
        return catalog.begin_backup(
            session=s, project_id=P, user_id="u", volume_id=vol.id, incremental=True
        )

    results = _in_threads(engine, 2, create)
    won = [r for r in results if isinstance(r, Backup)]
    lost = [r for r in results if isinstance(r, InvalidStatus)]
    assert (len(won), len(lost)) == (1, 1), results
    assert won[0].parent_id == full.id
    assert _row(session, full.id).num_dependent_backups == 1
    assert catalog.list_backups(session=session, project_id=P)[1] == 2


def _tree(session: Session, tmp_path: Path) -> dict[str, Backup]:
    """root <- a <- {b, d}, root <- c (failed): parents chosen as the API would."""
    vol = make_volume(session, tmp_path)
    root = _backup(session, vol)
    a = _backup(session, vol, incremental=True)
    _set(session, a, status="restoring")  # not available: the next child goes to root
    c = catalog.begin_backup(
        session=session, project_id=P, user_id="u", volume_id=vol.id, incremental=True
    )
    catalog.fail_operation(session=session, backup_id=c.id, reason="boom")
    _set(session, a, status="available")
    b = _backup(session, vol, incremental=True)
    _set(session, b, status="restoring")  # the next child goes to a again
    d = _backup(session, vol, incremental=True)
    _set(session, b, status="available")
    tree = {"root": root, "a": a, "b": b, "c": _row(session, c.id), "d": d}
    assert (a.parent_id, b.parent_id, c.parent_id, d.parent_id) == (root.id, a.id, root.id, a.id)
    assert [_row(session, x.id).num_dependent_backups for x in tree.values()] == [2, 2, 0, 0, 0]
    return tree


def _name(tree: dict[str, Backup], ids: list[str]) -> list[str]:
    names = {b.id: n for n, b in tree.items()}
    return [names[i] for i in ids]


def test_plan_cascade_puts_every_backup_after_its_descendants(
    session: Session, tmp_path: Path
) -> None:
    tree = _tree(session, tmp_path)
    plan = _name(
        tree, catalog.plan_cascade(session=session, backup_id=tree["root"].id, project_id=P)
    )
    assert sorted(plan) == ["a", "b", "c", "d", "root"] and plan[-1] == "root"
    assert plan.index("b") < plan.index("a") and plan.index("d") < plan.index("a")
    sub = catalog.plan_cascade(session=session, backup_id=tree["a"].id, project_id=P)
    assert sorted(_name(tree, sub)[:2]) == ["b", "d"] and _name(tree, sub)[2] == "a"
    assert catalog.plan_cascade(session=session, backup_id=tree["b"].id, project_id=None) == [
        tree["b"].id
    ]
    with pytest.raises(RecordNotFound):
        catalog.plan_cascade(session=session, backup_id=tree["root"].id, project_id=Q)


def test_a_cascade_never_crosses_projects(session: Session, tmp_path: Path) -> None:
    tree = _tree(session, tmp_path)
    _set(session, tree["d"], project_id=Q)  # a descendant in another project
    before = every_row(session)
    with pytest.raises(InvalidRequest, match="another project"):
        catalog.begin_cascade_delete(session=session, backup_id=tree["root"].id, project_id=P)
    assert every_row(session) == before
    # An admin acting across projects (all_tenants) plans the whole tree.
    everyone = catalog.plan_cascade(session=session, backup_id=tree["root"].id, project_id=None)
    assert len(everyone) == 5


def test_cascade_marks_the_whole_tree_deleting_at_once(session: Session, tmp_path: Path) -> None:
    tree = _tree(session, tmp_path)
    members = catalog.begin_cascade_delete(session=session, backup_id=tree["a"].id, project_id=P)
    assert _name(tree, [m.id for m in members])[-1] == "a"
    assert {_row(session, m.id).status for m in members} == {"deleting"}
    assert len({_row(session, m.id).op_token for m in members}) == 1
    assert _row(session, tree["root"].id).status == "available"
    assert _row(session, tree["c"].id).status == "error"


def test_cascade_is_refused_whole_when_a_member_is_busy(session: Session, tmp_path: Path) -> None:
    tree = _tree(session, tmp_path)
    _set(session, tree["d"], status="restoring")
    before = {
        n: (_row(session, b.id).status, _row(session, b.id).op_token) for n, b in tree.items()
    }
    with pytest.raises(InvalidStatus, match=tree["d"].id):
        catalog.begin_cascade_delete(session=session, backup_id=tree["root"].id, project_id=P)
    after = {n: (_row(session, b.id).status, _row(session, b.id).op_token) for n, b in tree.items()}
    assert after == before
    with pytest.raises(RecordNotFound):
        catalog.begin_cascade_delete(session=session, backup_id=tree["root"].id, project_id=Q)


def test_interrupted_cascade_fails_only_its_own_members_and_resumes(
    session: Session, tmp_path: Path
) -> None:
    tree = _tree(session, tmp_path)
    root = tree["root"].id
    assert not catalog.resumes_cascade(session=session, backup_id=root, project_id=P)
    members = [
        m.id for m in catalog.begin_cascade_delete(session=session, backup_id=root, project_id=P)
    ]
    catalog.attach_cascade_run(session=session, backup_ids=members, flow_run_id="run-1")
    # The first leaf was deleted before the run died; another member is driven elsewhere.
    assert catalog.ready_to_delete(session=session, backup_id=members[0])
    catalog.finish_backup_delete(session=session, backup_id=members[0])
    assert not catalog.ready_to_delete(session=session, backup_id=members[0])
    with pytest.raises(InvalidStatus, match="still has incremental backups"):
        catalog.ready_to_delete(session=session, backup_id=root)
    _set(session, _row(session, members[1]), flow_run_id="run-2")
    failed = catalog.fail_cascade(
        session=session, backup_ids=members, flow_run_id="run-1", reason="flow run run-1 crashed"
    )
    assert failed == members[2:]
    assert {_row(session, m).status for m in members[2:]} == {"error_deleting"}
    assert _row(session, root).fail_reason == "flow run run-1 crashed"
    assert not catalog.resumes_cascade(session=session, backup_id=root, project_id=P)
    catalog.fail_operation(session=session, backup_id=members[1], reason="run-2 failed")
    assert catalog.resumes_cascade(session=session, backup_id=root, project_id=P)
    again = catalog.begin_cascade_delete(session=session, backup_id=root, project_id=P)
    assert [m.id for m in again] == members[1:]
    assert {m.status for m in again} == {"deleting"}


def test_ready_to_delete_needs_the_deleting_status(session: Session, tmp_path: Path) -> None:
    backup = _backup(session, make_volume(session, tmp_path))
    with pytest.raises(InvalidStatus, match="not deleting"):
        catalog.ready_to_delete(session=session, backup_id=backup.id)
