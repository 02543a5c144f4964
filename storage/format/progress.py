"""Progress reporting shared by backup and restore: throttled (bytes_done, bytes_total)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from storage.errors import Stopped

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` from the thread doing the work."""

# Report at least every 1 % of the volume and every this many bytes, whichever is larger;
# callers persist progress (catalog rows), so a call per block would be far too many.
_MIN_STEP = 64 * 1024 * 1024


class Progress:
    """Accumulates done bytes and calls a ProgressFn at a bounded rate; always at the end.

    With ``stop``, every block boundary checks it: once set, ``advance`` raises Stopped,
    so the data thread ends at its next block whatever its caller is doing.
    """

    def __init__(
        self, fn: ProgressFn | None, total: int, stop: threading.Event | None = None
    ) -> None:
        self._fn = fn
        self._stop = stop
        self.total = total
        self.done = 0
        self._step = max(_MIN_STEP, total // 100)
        self._next = self._step

    def advance(self, nbytes: int) -> None:
        """Count ``nbytes`` more as done; report when the next step is reached.

        Raises Stopped once the stop event is set.
        """
        self.check()
        self.done += nbytes
        if self._fn is not None and self.done >= self._next and self.done < self.total:
            self._next = self.done + self._step
            self._fn(self.done, self.total)

    def check(self) -> None:
        """Raise Stopped if the work was told to stop."""
        if self._stop is not None and self._stop.is_set():
            raise Stopped("data movement stopped: its flow run ended or lost its row")

    def finish(self) -> None:
        """Report completion (done == total) exactly once."""
        if self._fn is not None:
            self._fn(self.total, self.total)
            self._fn = None
