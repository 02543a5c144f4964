"""Catalog table for backup policies: what to back up, when, and what to keep."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from storage.catalog.models import utcnow


class PolicyStatus(StrEnum):
    """Whether the policy's schedule makes runs (Prefect's schedule `active` flag)."""

    ACTIVE = "active"
    PAUSED = "paused"


class Policy(SQLModel, table=True):
    """A backup policy: targets, a schedule, a full/incremental mode, a start window and
    retention rules; plus the outcome of its runs (written by the policy-run flow)."""

    __tablename__ = "policies"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    name: str = Field(max_length=255)
    description: str | None = Field(default=None, max_length=255)
    # Targets: one resource of the kind, or (target_id None) every resource of the kind
    # in the project whose metadata holds every pair of target_metadata.
    target_kind: str = Field(max_length=16)
    target_id: str | None = Field(default=None, max_length=36)
    target_metadata: dict[str, str] = Field(
        default_factory=dict, sa_column=Column("target_metadata", JSON)
    )
    # Exactly one of cron (read in `timezone`) and interval_seconds.
    cron: str | None = Field(default=None, max_length=255)
    timezone: str = Field(default="UTC", max_length=64)
    interval_seconds: int | None = None
    # A full backup when the chain has this many backups / its full is this old.
    full_every_runs: int | None = None
    full_every_days: int | None = None
    start_window_seconds: int = 600
    # storage.retention.Rules as a dict (None: the policy never expires anything).
    retention: dict[str, Any] | None = Field(default=None, sa_column=Column("retention", JSON))
    status: str = Field(default=PolicyStatus.ACTIVE, max_length=16)
    schedule_id: str | None = Field(default=None, max_length=36)
    last_run_at: datetime | None = None
    last_run_state: str | None = Field(default=None, max_length=32)
    last_run_flow_run_id: str | None = Field(default=None, max_length=36)
    last_run_reason: str | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    missed_runs: int = 0
    last_missed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
