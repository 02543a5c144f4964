"""Catalog tables for Trove: database instances and their backups."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from storage.catalog.models import utcnow


class InstanceStatus(StrEnum):
    """Trove's instance statuses that Safehold's flows use (plus SHUTDOWN while deleting)."""

    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    BACKUP = "BACKUP"
    SHUTDOWN = "SHUTDOWN"
    ERROR = "ERROR"


class DbBackupStatus(StrEnum):
    """Trove's backup statuses (FIELDS.md 10), plus DELETING while a cascade runs."""

    NEW = "NEW"
    BUILDING = "BUILDING"
    SAVING = "SAVING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DELETING = "DELETING"
    DELETE_FAILED = "DELETE_FAILED"
    RESTORED = "RESTORED"


class DbInstance(SQLModel, table=True):
    """A database instance: one database on a configured datastore server."""

    __tablename__ = "db_instances"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    name: str = Field(max_length=255)
    datastore: str = Field(max_length=32)  # sqlite | postgresql | mariadb
    datastore_version: str = Field(max_length=64)
    database: str = Field(max_length=64)  # the database's name on the server
    volume_size: int = 1  # GiB: a quota shown in the API, as Trove's volume size
    # Registered by an admin (manage): deleting the instance forgets it, the database stays.
    managed: bool = False
    used_bytes: int = Field(default=0, sa_type=BigInteger)
    status: str = Field(default=InstanceStatus.BUILD, max_length=32, index=True)
    # The backup this instance is built from (Trove's restorePoint), if any.
    restore_backup_id: str | None = Field(default=None, max_length=36)
    fail_reason: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class DbBackup(SQLModel, table=True):
    """A backup of one instance's database: a dump stored as a chunk stream."""

    __tablename__ = "db_backups"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    instance_id: str | None = Field(default=None, index=True, max_length=36)
    # The instance whose store namespace holds the data (kept when the instance goes).
    owner_id: str = Field(max_length=36)
    parent_id: str | None = Field(default=None, index=True, max_length=36)
    name: str = Field(max_length=255)
    description: str | None = Field(default=None, max_length=255)
    datastore: str = Field(max_length=32)
    datastore_version: str = Field(max_length=64)
    status: str = Field(default=DbBackupStatus.NEW, max_length=32, index=True)
    fail_reason: str | None = None
    # What a cascade that stops before reaching this backup puts back.
    status_before_delete: str | None = Field(default=None, max_length=32)
    # The backup policy whose run made this backup (None: made by hand).
    policy_id: str | None = Field(default=None, index=True, max_length=36)
    size_bytes: int = Field(default=0, sa_type=BigInteger)  # bytes of the dump
    stored_bytes: int = Field(default=0, sa_type=BigInteger)
    progress_done: int = Field(default=0, sa_type=BigInteger)
    progress_total: int = Field(default=0, sa_type=BigInteger)
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
