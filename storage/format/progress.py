"""Progress reporting shared by backup and restore: throttled (bytes_done, bytes_total)."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` from the thread doing the work."""

# Report at least every 1 % of the volume and every this many bytes, whichever is larger;
# callers persist progress (catalog rows), so a call per block would be far too many.
_MIN_STEP = 64 * 1024 * 1024


class Progress:
    """Accumulates done bytes and calls a ProgressFn at a bounded rate; always at the end."""

    def __init__(self, fn: ProgressFn | None, total: int) -> None:
        self._fn = fn
        self.total = total
        self.done = 0
        self._step = max(_MIN_STEP, total // 100)
        self._next = self._step

    def advance(self, nbytes: int) -> None:
        """Count ``nbytes`` more as done; report when the next step is reached."""
        self.done += nbytes
        if self._fn is not None and self.done >= self._next and self.done < self.total:
            self._next = self.done + self._step
            self._fn(self.done, self.total)

    def finish(self) -> None:
        """Report completion (done == total) exactly once."""
        if self._fn is not None:
            self._fn(self.total, self.total)
            self._fn = None
