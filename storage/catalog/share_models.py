"""Catalog tables for Manila: shares (directory trees) and their backups."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from storage.catalog.models import utcnow


class ShareStatus(StrEnum):
    """Manila's share statuses that Safehold's flows use (FIELDS.md 11)."""

    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    MANAGE_STARTING = "manage_starting"
    MANAGE_ERROR = "manage_error"
    UNMANAGE_STARTING = "unmanage_starting"
    UNMANAGE_ERROR = "unmanage_error"
    BACKUP_CREATING = "backup_creating"
    BACKUP_RESTORING = "backup_restoring"
    BACKUP_RESTORING_ERROR = "backup_restoring_error"


class ShareBackupStatus(StrEnum):
    """Manila's share backup statuses (seed 004), plus the reset_status extras."""

    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    RESTORING = "restoring"
    ERROR_DELETING = "error_deleting"


class Share(SQLModel, table=True):
    """A share: a directory tree on the host, exported at ``path``."""

    __tablename__ = "shares"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    size: int = 1  # GiB: a quota shown in the API, not enforced on the directory
    share_proto: str = Field(default="NFS", max_length=32)
    share_type: str | None = Field(default=None, max_length=255)
    is_public: bool = False
    status: str = Field(default=ShareStatus.CREATING, max_length=32, index=True)
    path: str = Field(max_length=4096)
    managed: bool = False  # registered through manage: unmanage and delete keep the tree
    availability_zone: str = Field(default="nova", max_length=255)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", JSON))
    fail_reason: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class ShareBackup(SQLModel, table=True):
    """A backup of one share's tree: its catalog record and orchestration state."""

    __tablename__ = "share_backups"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    share_id: str = Field(index=True, max_length=36)
    # The backup this one is incremental against (None: full). Informational: every
    # tree backup restores on its own, and deleting a parent keeps what children need.
    parent_id: str | None = Field(default=None, index=True, max_length=36)
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    status: str = Field(default=ShareBackupStatus.CREATING, max_length=32, index=True)
    fail_reason: str | None = None
    size: int = 0  # GiB of the source share
    size_bytes: int = Field(default=0, sa_type=BigInteger)  # apparent bytes of its files
    object_count: int = 0
    stored_bytes: int = Field(default=0, sa_type=BigInteger)
    availability_zone: str | None = Field(default=None, max_length=255)
    host: str = Field(default="safehold@tree#default", max_length=255)
    topic: str = Field(default="manila-data", max_length=255)
    backup_type: str = Field(default="backup", max_length=32)
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column("options", JSON))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column("stats", JSON))
    restore_share_id: str | None = Field(default=None, max_length=36)
    # The backup policy whose run made this backup (None: made by hand).
    policy_id: str | None = Field(default=None, index=True, max_length=36)
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    # Bytes moved by the running operation: progress while creating, restore_progress
    # while restoring; the percentages each operation reached are kept in the two strings.
    progress_done: int = Field(default=0, sa_type=BigInteger)
    progress_total: int = Field(default=0, sa_type=BigInteger)
    progress: str = Field(default="0", max_length=8)
    restore_progress: str = Field(default="0", max_length=8)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
