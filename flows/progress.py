"""Run blocking data movement in a thread while publishing its progress.

Progress goes to the catalog (API progress fields) and to a Prefect progress
artifact, once a second, from the event loop: the worker thread only stores numbers.
The same loop checks that the run still owns its row, and tells the thread to stop
(at its next block) when it does not, or when the run itself ends early: a thread the
flow cannot cancel must not go on writing after its run is over.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from flows import context
from storage.catalog import Backup, DbBackup, ShareBackup, Volume, update_progress
from storage.errors import LostOwnership

T = TypeVar("T")
log = logging.getLogger(__name__)
PUBLISH_EVERY = 1.0
Moving = type[Backup] | type[Volume] | type[ShareBackup] | type[DbBackup]


class Tracker:
    """Thread-safe holder of (done, total) bytes, written by the data thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = 0
        self.total = 0

    def update(self, done: int, total: int) -> None:
        """Record progress; called from the worker thread."""
        with self._lock:
            self.done, self.total = done, total

    def snapshot(self) -> tuple[int, int]:
        """The latest (done, total)."""
        with self._lock:
            return self.done, self.total


def _store(model: Moving, record_id: str, done: int, total: int) -> None:
    with context.session() as s:
        update_progress(session=s, model=model, record_id=record_id, done=done, total=total)


async def run_with_progress(
    work: Callable[[Callable[[int, int], None], threading.Event], T],
    *,
    model: Moving,
    record_id: str,
    label: str,
    still_owned: Callable[[], None] | None = None,
) -> T:
    """Run work(progress_fn, stop) in a thread; publish its progress until it ends.

    Once a second ``still_owned`` is called (it raises LostOwnership when the run lost its
    row): then, and whenever this coroutine ends early (cancelled, timed out), ``stop`` is
    set, and the work ends at its next block instead of going on unseen. Raises what the
    work raised, or the LostOwnership that stopped it.
    """
    tracker = Tracker()
    stop = threading.Event()
    artifact_id = await acreate_progress_artifact(0.0, description=f"{label} {record_id}")
    job = asyncio.ensure_future(asyncio.to_thread(work, tracker.update, stop))
    last = (-1, -1)
    try:
        while True:
            await asyncio.wait({job}, timeout=PUBLISH_EVERY)
            if still_owned is not None and not job.done():
                await _check_owned(still_owned, stop, job)
            now = tracker.snapshot()
            if now != last and now[1] > 0:
                last = now
                await asyncio.to_thread(_store, model, record_id, *now)
                await aupdate_progress_artifact(artifact_id, progress=100.0 * now[0] / now[1])
            if job.done():  # after the last publish: the final numbers are always shown
                return job.result()
    finally:
        stop.set()  # a no-op once the work is done; otherwise it ends at the next block


async def _check_owned(still_owned: Callable[[], None], stop: threading.Event, job: Any) -> None:
    """Stop the work and raise LostOwnership once the run no longer owns its row."""
    try:
        await asyncio.to_thread(still_owned)
    except LostOwnership:
        stop.set()
        await asyncio.wait({job})  # the thread ends at its next block
        job.exception()  # its Stopped is expected: retrieved, so never reported as lost
        raise
