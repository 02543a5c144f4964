"""Request bodies of the policies API (`/v1/{project_id}/policies`)."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from storage.catalog.policies import COUNT_RULES, retention_rules

WEEK = 7 * 86400


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


class Targets(BaseModel):
    """What the policy backs up: one resource, or every resource of the kind in the
    project whose metadata holds each pair of ``metadata``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["volume", "share", "instance"]
    resource_id: str | None = Field(default=None, min_length=1, max_length=36)
    metadata: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Targets:
        if self.resource_id is not None and self.metadata:
            raise ValueError("give targets.resource_id or targets.metadata, not both")
        if self.kind == "instance" and self.metadata:
            raise ValueError("database instances have no metadata to select by")
        return self


class Schedule(BaseModel):
    """A cron expression read in ``timezone``, or an interval in seconds."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, min_length=9, max_length=255)
    timezone: str = "UTC"
    interval_seconds: int | None = Field(default=None, ge=60, le=366 * 86400)

    _zone = field_validator("timezone")(_zone)

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of schedule.cron and schedule.interval_seconds")
        return self


class Mode(BaseModel):
    """When a policy backup is full: every N runs of a chain, or once its full is K days
    old; incremental otherwise (full when there is nothing to chain onto)."""

    model_config = ConfigDict(extra="forbid")

    full_every_runs: int | None = Field(default=None, ge=1, le=10_000)
    full_every_days: int | None = Field(default=None, ge=1, le=3650)


class Retention(BaseModel):
    """Keep rules, as restic's `forget --keep-*`, with a floor of good backups."""

    model_config = ConfigDict(extra="forbid")

    keep_last: int = Field(default=0, ge=0, le=100_000)
    keep_hourly: int = Field(default=0, ge=0, le=100_000)
    keep_daily: int = Field(default=0, ge=0, le=100_000)
    keep_weekly: int = Field(default=0, ge=0, le=100_000)
    keep_monthly: int = Field(default=0, ge=0, le=100_000)
    keep_yearly: int = Field(default=0, ge=0, le=100_000)
    keep_within: str | None = Field(default=None, max_length=32)
    floor: int = Field(default=1, ge=1, le=100_000)
    timezone: str = "UTC"

    _zone = field_validator("timezone")(_zone)

    @model_validator(mode="after")
    def _valid(self) -> Retention:
        retention_rules(self.model_dump())  # ValueError: the planner would refuse them
        return self


class PolicyFields(BaseModel):
    """Every field of a policy; all optional here (an update)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    targets: Targets | None = None
    schedule: Schedule | None = None
    mode: Mode | None = None
    start_window_seconds: int | None = Field(default=None, ge=10, le=WEEK)
    retention: Retention | None = None

    def columns(self) -> dict[str, Any]:
        """The catalog columns the fields given set (retention: null clears it)."""
        given = self.model_fields_set
        out: dict[str, Any] = {k: getattr(self, k) for k in ("name", "description") if k in given}
        if "start_window_seconds" in given and self.start_window_seconds is not None:
            out["start_window_seconds"] = self.start_window_seconds
        if self.targets is not None:
            out |= {
                "target_kind": self.targets.kind,
                "target_id": self.targets.resource_id,
                "target_metadata": dict(self.targets.metadata or {}),
            }
        if self.schedule is not None:
            out |= self.schedule.model_dump()
        if self.mode is not None:
            out |= self.mode.model_dump()
        if "retention" in given:
            out["retention"] = self.retention.model_dump() if self.retention else None
        return out


class PolicyCreate(PolicyFields):
    """A new policy: name, targets and schedule are required."""

    name: str = Field(min_length=1, max_length=255)
    targets: Targets
    schedule: Schedule

    def columns(self) -> dict[str, Any]:
        """Every column, defaults included."""
        return {"start_window_seconds": 600} | super().columns()


class PolicyCreateBody(BaseModel):
    """`{"policy": {...}}`."""

    model_config = ConfigDict(extra="forbid")

    policy: PolicyCreate


class PolicyUpdateBody(BaseModel):
    """`{"policy": {...}}` with the fields to change."""

    model_config = ConfigDict(extra="forbid")

    policy: PolicyFields


class RetentionRequest(BaseModel):
    """Body of `POST .../retention`."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = True


assert set(COUNT_RULES) <= set(Retention.model_fields)
