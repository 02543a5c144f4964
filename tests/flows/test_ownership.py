"""A run acts only on what it still owns: data movement stops at the next block when the
row is taken from it or the run ends early, and hooks leave rows of newer runs alone."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session

from flows import hooks, progress
from storage import catalog
from storage.catalog import Backup, Volume
from storage.errors import LostOwnership, Stopped
from storage.format.progress import Progress


class _Artifacts:
    """Stand-ins for Prefect's progress artifact calls (no server in these tests)."""

    @staticmethod
    async def create(*_args: Any, **_kw: Any) -> str:
        return "artifact"

    @staticmethod
    async def update(*_args: Any, **_kw: Any) -> None:
        return None


@pytest.fixture(autouse=True)
def _fast_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "PUBLISH_EVERY", 0.05)
    monkeypatch.setattr(progress, "acreate_progress_artifact", _Artifacts.create)
    monkeypatch.setattr(progress, "aupdate_progress_artifact", _Artifacts.update)


class _Blocks:
    """A data thread that moves 'blocks' until told to stop; records where it ended."""

    def __init__(self) -> None:
        self.blocks = 0
        self.ended = threading.Event()
        self.error: BaseException | None = None

    def __call__(self, report: Any, stop: threading.Event) -> int:
        tracker = Progress(report, 10**12, stop)
        try:
            while True:
                tracker.advance(1)
                self.blocks += 1
                time.sleep(0.002)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.ended.set()


def _backup(session: Session, volume: Volume) -> Backup:
    return catalog.begin_backup(session=session, project_id="p", user_id="u", volume_id=volume.id)


def test_data_stops_at_the_next_block_once_the_row_is_taken(
    flow_catalog: Session, volume: Volume
) -> None:
    backup = _backup(flow_catalog, volume)
    work = _Blocks()
    checks = 0

    def still_owned() -> None:
        nonlocal checks
        checks += 1
        if checks >= 3:  # an admin reset lands while the data moves
            raise LostOwnership(f"backup {backup.id} is error")

    with pytest.raises(LostOwnership):
        asyncio.run(
            progress.run_with_progress(
                work, model=Backup, record_id=backup.id, label="backup", still_owned=still_owned
            )
        )
    assert work.ended.is_set() and isinstance(work.error, Stopped)
    moved = work.blocks
    time.sleep(0.05)
    assert work.blocks == moved  # nothing more after the stop


def test_data_stops_when_the_run_is_cancelled(flow_catalog: Session, volume: Volume) -> None:
    backup = _backup(flow_catalog, volume)
    work = _Blocks()

    async def cancel_midway() -> None:
        job = asyncio.ensure_future(
            progress.run_with_progress(work, model=Backup, record_id=backup.id, label="backup")
        )
        await asyncio.sleep(0.2)
        job.cancel()  # a task timeout or a cancelled flow run
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(cancel_midway())
    assert work.ended.wait(5) and isinstance(work.error, Stopped)


class _State:
    type = SimpleNamespace(value="CANCELLED")
    message = "cancelled by an admin"


def test_a_late_hook_leaves_a_row_driven_by_a_newer_run(
    flow_catalog: Session, volume: Volume
) -> None:
    backup = _backup(flow_catalog, volume)
    old_run, new_run = uuid.uuid4(), uuid.uuid4()
    catalog.attach_flow_run(session=flow_catalog, record=backup, flow_run_id=str(new_run))
    for run in (old_run, new_run):  # the old run's hook first: it no longer owns the row
        ended = SimpleNamespace(id=run, parameters={"backup_id": backup.id})
        hooks.backup_run_ended(None, ended, _State())
        flow_catalog.expire_all()
        row = flow_catalog.get(Backup, backup.id)
        assert row is not None
        assert row.status == ("creating" if run == old_run else "error")
    assert (
        row is not None
        and row.fail_reason == f"flow run {new_run} cancelled: cancelled by an admin"
    )


def test_the_write_is_not_committed_once_the_row_is_taken(tmp_path: Path) -> None:
    from storage.format import manifest_exists, write_backup
    from storage.objects import open_store

    store = open_store(f"file://{tmp_path / 'store'}")
    source = tmp_path / "vol.img"
    source.write_bytes(b"x" * (256 * 1024))
    backup_id = str(uuid.uuid4())

    def taken() -> None:
        raise LostOwnership(f"backup {backup_id} was reset")

    with pytest.raises(LostOwnership):
        write_backup(
            store,
            backup_id=backup_id,
            source_path=source,
            record={"id": backup_id},
            block_size=64 * 1024,
            segment_size=128 * 1024,
            before_commit=taken,
        )
    assert not manifest_exists(store, backup_id)


def test_the_final_progress_is_always_published(
    flow_catalog: Session, volume: Volume, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = _backup(flow_catalog, volume)
    published: list[float] = []

    async def update(_artifact: str, *, progress: float) -> None:
        published.append(progress)

    monkeypatch.setattr(progress, "aupdate_progress_artifact", update)

    def quick(report: Any, _stop: threading.Event) -> int:
        report(10, 10)  # done before the first tick
        return 10

    assert (
        asyncio.run(
            progress.run_with_progress(quick, model=Backup, record_id=backup.id, label="backup")
        )
        == 10
    )
    assert published == [100.0]
    flow_catalog.expire_all()
    row = flow_catalog.get(Backup, backup.id)
    assert row is not None and (row.progress_done, row.progress_total) == (10, 10)
