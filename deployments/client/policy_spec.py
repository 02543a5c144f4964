"""Policy request bodies from command-line flags (the policies API's contract).

A create body is built from flags alone; an update body merges the flags given into
the policy's current targets, mode and retention, so `--keep-daily 7` keeps the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import typer

from deployments.client.parsing import duration

KEEPS: Final = (
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
)
KINDS: Final = ("volume", "share", "instance")
RETENTION_DEFAULTS: Final[Mapping[str, Any]] = {
    **dict.fromkeys(KEEPS, 0),
    "keep_within": None,
    "floor": 1,
    "timezone": "UTC",
}


@dataclass(frozen=True)
class Retention:
    """The retention flags given (None: not given)."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_within: str | None = None
    floor: int | None = None
    timezone: str | None = None

    def given(self) -> dict[str, Any]:
        """Only the flags given."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def retention_body(flags: Retention, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A whole retention object: defaults, then the current one, then the flags."""
    return {**RETENTION_DEFAULTS, **(current or {}), **flags.given()}


def targets_body(
    kind: str | None,
    resource: str | None,
    metadata: dict[str, str] | None,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The targets object: one resource, or every resource of the kind (by metadata)."""
    if resource is not None and metadata is not None:
        raise typer.BadParameter("give --resource or --metadata, not both")
    body = dict(current or {"kind": None, "resource_id": None, "metadata": None})
    if kind is not None:
        if kind not in KINDS:
            raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
        body["kind"] = kind
    if resource is not None:
        body |= {"resource_id": resource, "metadata": None}
    if metadata is not None:
        body |= {"resource_id": None, "metadata": metadata}
    return body


def schedule_body(
    cron: str | None, every: str | None, timezone: str | None, current: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The schedule object (None: unchanged); exactly one of --cron and --every."""
    if cron is not None and every is not None:
        raise typer.BadParameter("give --cron or --every, not both")
    if every is not None:
        return {"interval_seconds": duration(every, "--every")}
    if cron is not None:
        return {"cron": cron, "timezone": timezone or "UTC"}
    if timezone is not None and current is not None and current.get("cron"):
        return {"cron": current["cron"], "timezone": timezone}
    if timezone is not None:
        raise typer.BadParameter("--timezone applies to a --cron schedule")
    return None


def mode_body(
    runs: int | None, days: int | None, current: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The mode object (None: unchanged): when a run makes a full backup."""
    if runs is None and days is None:
        return None
    body = dict(current or {"full_every_runs": None, "full_every_days": None})
    if runs is not None:
        body["full_every_runs"] = runs
    if days is not None:
        body["full_every_days"] = days
    return body


def window_seconds(window: str | None) -> int | None:
    """--window as seconds (None: not given)."""
    return None if window is None else duration(window, "--window")
