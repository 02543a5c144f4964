"""Following an asynchronous operation to its end: a live bar (bytes or percent) or a
spinner with the status, drawn on stderr while a probe is polled."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from deployments.client.errors import OperationFailed, WaitInterrupted


class Meter(Enum):
    """What the bar measures."""

    BYTES = "bytes"
    PERCENT = "percent"
    STATUS = "status"  # nothing countable: a spinner with the status


@dataclass(frozen=True)
class Reading:
    """One poll of an operation: its status, how far it got, whether it is over."""

    status: str
    done: float | None = None
    total: float | None = None
    finished: bool = False
    failed: bool = False
    reason: str | None = None


Probe = Callable[[], Reading]


def _columns(meter: Meter) -> tuple[ProgressColumn, ...]:
    label = TextColumn("{task.description}")
    if meter is Meter.BYTES:
        return (
            label,
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
    if meter is Meter.PERCENT:
        return (label, BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    return (SpinnerColumn(), label, TimeElapsedColumn())


def watch(
    probe: Probe, *, label: str, what: str, meter: Meter, console: Console, interval: float
) -> Reading:
    """Poll `probe` every `interval` seconds until it reports the end; the last reading.

    Ctrl-C stops the waiting (WaitInterrupted), never the operation. Nothing is drawn
    unless the console is a terminal: logs and pipes get only the result.
    """
    with Progress(*_columns(meter), console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        try:
            while True:
                reading = probe()
                bar.update(
                    task,
                    description=f"{label} {reading.status}",
                    completed=reading.done or 0,
                    total=reading.total or None,
                )
                if reading.finished:
                    return reading
                time.sleep(interval)
        except KeyboardInterrupt:
            message = f"stopped waiting; {what} goes on (see its show command)"
            raise WaitInterrupted(message) from None


def settle(reading: Reading, what: str) -> Reading:
    """The reading, or OperationFailed when the operation ended in an error."""
    if reading.failed:
        raise OperationFailed(what, reading.status, reading.reason)
    return reading


def fail_reason(row: dict[str, Any]) -> str | None:
    """Why a resource failed, as most of the APIs say it: its `fail_reason`."""
    return row.get("fail_reason")


def status_probe(
    fetch: Callable[[], dict[str, Any] | None],
    *,
    ok: frozenset[str],
    bad: frozenset[str],
    gone_ok: bool = False,
    reason: Callable[[dict[str, Any]], str | None] = fail_reason,
) -> Probe:
    """A probe of a resource's status: `ok` and `bad` end the wait, and so does its
    disappearance (success for a delete, `gone_ok`; a failure otherwise)."""

    def probe() -> Reading:
        row = fetch()
        if row is None:
            return Reading("deleted", finished=True, failed=not gone_ok, reason="it is gone")
        status = str(row.get("status"))
        if status in ok:
            return Reading(status, finished=True)
        if status in bad:
            return Reading(status, finished=True, failed=True, reason=reason(row))
        return Reading(status)

    return probe
