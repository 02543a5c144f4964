"""os-update_snapshot_status and the snapshot list filters in the catalog (SQLite and
PostgreSQL): Cinder's status table, the live-run rule, metadata / consumes_quota /
availability_zone filters."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from storage import catalog
from storage.catalog import Snapshot, SnapshotStatus, Volume, lifecycle
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, every_row, make_volume

CINDER_TABLE = {
    "creating": {"creating", "available", "error"},
    "deleting": {"deleting", "error_deleting"},
}


def _snapshot(session: Session, tmp_path: Path, volume: Volume, **kw: Any) -> Snapshot:
    return catalog.begin_snapshot(
        session=session,
        project_id=volume.project_id,
        user_id="u",
        volume_id=volume.id,
        snapshots_dir=tmp_path / "snapshots",
        **kw,
    )


def _update(session: Session, snapshot_id: str, status: str, **kw: Any) -> Snapshot:
    return catalog.update_snapshot_status(
        session=session, snapshot_id=snapshot_id, project_id=P, status=status, **kw
    )


@pytest.mark.parametrize(
    ("current", "target"), itertools.product(list(SnapshotStatus), list(SnapshotStatus))
)
def test_status_update_table_is_cinders(current: str, target: str) -> None:
    if target in CINDER_TABLE.get(current, set()):
        lifecycle.check_snapshot_status_update(current, target)
        return
    with pytest.raises(InvalidStatus) as caught:
        lifecycle.check_snapshot_status_update(current, target)
    if current in CINDER_TABLE:
        assert str(caught.value) == (
            f"Provided snapshot status {target} not allowed for snapshot with status {current}."
        )
    else:
        assert str(caught.value) == (
            f"Snapshot status {current} not allowed for update_snapshot_status"
        )


def test_creating_may_be_reported_available_or_error_with_progress(
    session: Session, tmp_path: Path
) -> None:
    volume = make_volume(session, tmp_path)
    done, failed = (_snapshot(session, tmp_path, volume) for _ in range(2))
    assert _update(session, done.id, "creating", progress="80%").progress == "80%"
    shown = _update(session, done.id, "available")
    assert (shown.status, shown.progress, shown.fail_reason) == ("available", "80%", None)
    failed = _update(session, failed.id, "error", progress="10%")
    assert (failed.status, failed.progress) == ("error", "10%")
    assert failed.fail_reason == "error reported by os-update_snapshot_status"


def test_deleting_may_be_reported_error_deleting(session: Session, tmp_path: Path) -> None:
    snapshot = _snapshot(session, tmp_path, make_volume(session, tmp_path))
    catalog.reset_snapshot_status(session=session, snapshot_id=snapshot.id, status="deleting")
    assert _update(session, snapshot.id, "error_deleting").status == "error_deleting"


def test_refusals_change_nothing(session: Session, tmp_path: Path) -> None:
    volume = make_volume(session, tmp_path)
    snapshot = _snapshot(session, tmp_path, volume)
    before = every_row(session)
    for status in ("deleting", "backing-up", "bogus"):
        with pytest.raises(InvalidStatus, match="not allowed for snapshot with status creating"):
            _update(session, snapshot.id, status)
    with pytest.raises(RecordNotFound):
        catalog.update_snapshot_status(
            session=session, snapshot_id=snapshot.id, project_id=Q, status="error"
        )
    assert every_row(session) == before
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot.id)
    with pytest.raises(InvalidStatus, match="status available not allowed"):
        _update(session, snapshot.id, "available")


def test_a_live_run_keeps_the_status_but_takes_progress(session: Session, tmp_path: Path) -> None:
    snapshot = _snapshot(session, tmp_path, make_volume(session, tmp_path))
    before = every_row(session)
    for status in ("available", "error"):
        with pytest.raises(InvalidStatus, match="its own flow run is still working on it"):
            _update(session, snapshot.id, status, run_live=True)
    assert every_row(session) == before
    assert _update(session, snapshot.id, "creating", progress="50%", run_live=True).progress == (
        "50%"
    )
    # The run's own end is untouched by that report.
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot.id)


# -- list filters -----------------------------------------------------------------------


def _ids(session: Session, **kw: Any) -> set[str]:
    rows, total = catalog.list_snapshots(session=session, project_id=P, **kw)
    assert total == len(rows)
    return {row.id for row in rows}


def test_metadata_filter_needs_every_item(session: Session, tmp_path: Path) -> None:
    volume = make_volume(session, tmp_path)
    gold = _snapshot(session, tmp_path, volume, metadata={"tier": "gold", "a.b c/d:e": "1"})
    silver = _snapshot(session, tmp_path, volume, metadata={"tier": "silver"})
    _snapshot(session, tmp_path, volume)
    assert _ids(session, metadata={"tier": "gold"}) == {gold.id}
    assert _ids(session, metadata={"tier": "gold", "a.b c/d:e": "1"}) == {gold.id}
    assert _ids(session, metadata={"tier": "gold", "a.b c/d:e": "2"}) == set()
    assert _ids(session, metadata={"tier": "silver"}) == {silver.id}
    assert len(_ids(session, metadata={})) == 3


def test_consumes_quota_and_availability_zone_filters(session: Session, tmp_path: Path) -> None:
    nova = make_volume(session, tmp_path)
    other = catalog.create_volume(
        session=session,
        project_id=P,
        user_id="u",
        size_gb=1,
        volumes_dir=tmp_path,
        availability_zone="az2",
        status="available",
    )
    mine, theirs = _snapshot(session, tmp_path, nova), _snapshot(session, tmp_path, other)
    assert _ids(session, consumes_quota=True) == {mine.id, theirs.id}
    assert _ids(session, consumes_quota=False) == set()
    assert _ids(session, filters={"availability_zone": "az2"}) == {theirs.id}
    assert _ids(session, filters={"availability_zone": "nova", "name": "x"}) == set()
    with pytest.raises(InvalidRequest, match="Invalid filter keys: path"):
        _ids(session, filters={"path": "/x"})
