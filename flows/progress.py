"""Run blocking data movement in a thread while publishing its progress.

Progress goes to the catalog (API progress fields) and to a Prefect progress
artifact, once a second, from the event loop: the worker thread only stores numbers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from flows import context
from storage.catalog import Backup, Volume, update_progress

T = TypeVar("T")
log = logging.getLogger(__name__)
PUBLISH_EVERY = 1.0


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


def _store(model: type[Backup] | type[Volume], record_id: str, done: int, total: int) -> None:
    with context.session() as s:
        update_progress(session=s, model=model, record_id=record_id, done=done, total=total)


async def run_with_progress(
    work: Callable[[Callable[[int, int], None]], T],
    *,
    model: type[Backup] | type[Volume],
    record_id: str,
    label: str,
) -> T:
    """Run work(progress_fn) in a thread; publish its progress until it ends."""
    tracker = Tracker()
    artifact_id = await acreate_progress_artifact(0.0, description=f"{label} {record_id}")
    job = asyncio.ensure_future(asyncio.to_thread(work, tracker.update))
    last = (-1, -1)
    while True:
        await asyncio.wait({job}, timeout=PUBLISH_EVERY)
        now = tracker.snapshot()
        if now != last and now[1] > 0:
            last = now
            await asyncio.to_thread(_store, model, record_id, *now)
            await aupdate_progress_artifact(artifact_id, progress=100.0 * now[0] / now[1])
        if job.done():
            return job.result()
