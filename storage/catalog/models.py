"""Catalog tables: volumes, snapshots and backups, with every field the Cinder views need."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, event
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC now (views render it naive, as Cinder does)."""
    return datetime.now(UTC)


# Cinder records the backup driver's import path as a backup's service, and clients
# (tempest) expect export records of a "cinder.backup.drivers..." service.
BACKUP_SERVICE = "cinder.backup.drivers.safehold.BlockV1Driver"


class BackupStatus(StrEnum):
    """Cinder's backup statuses."""

    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    RESTORING = "restoring"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"


class VolumeStatus(StrEnum):
    """The Cinder volume statuses Safehold uses."""

    CREATING = "creating"
    MANAGING = "managing"
    AVAILABLE = "available"
    IN_USE = "in-use"
    BACKING_UP = "backing-up"
    RESTORING_BACKUP = "restoring-backup"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    ERROR_RESTORING = "error_restoring"
    ERROR_MANAGING = "error_managing"


class Volume(SQLModel, table=True):
    """A block volume: a raw image file or block device Safehold can read and write."""

    __tablename__ = "volumes"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    size: int = 0  # GiB, as Cinder; 0 until a managed volume is measured
    status: str = Field(default=VolumeStatus.CREATING, max_length=32, index=True)
    # The status to return to after a backup (available or in-use).
    previous_status: str | None = Field(default=None, max_length=32)
    path: str = Field(max_length=4096)
    managed: bool = False  # registered through manage-existing: never deleted from disk
    availability_zone: str = Field(default="nova", max_length=255)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", JSON))
    fail_reason: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    progress_done: int = Field(default=0, sa_type=BigInteger)
    progress_total: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class Backup(SQLModel, table=True):
    """A backup of one volume: its catalog record and orchestration state."""

    __tablename__ = "backups"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    volume_id: str = Field(index=True, max_length=36)
    snapshot_id: str | None = Field(default=None, max_length=36)
    parent_id: str | None = Field(default=None, index=True, max_length=36)
    # The stored backup (backups/<data_id>/ in the store) whose manifest this row reads:
    # its own id unless the row was imported under a new id (docs/format.md §6).
    # Left empty, it is filled with the row's own id on insert (_own_data).
    data_id: str = Field(default="", max_length=36, index=True)
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    status: str = Field(default=BackupStatus.CREATING, max_length=32, index=True)
    fail_reason: str | None = None
    size: int = 0  # GiB of the source volume
    object_count: int = 0
    stored_bytes: int = Field(default=0, sa_type=BigInteger)
    container: str | None = Field(default=None, max_length=255)
    availability_zone: str | None = Field(default=None, max_length=255)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", JSON))
    num_dependent_backups: int = 0
    service: str = Field(default=BACKUP_SERVICE, max_length=255)
    service_metadata: str | None = Field(default=None, max_length=255)
    restore_volume_id: str | None = Field(default=None, max_length=36)
    encryption_key_id: str | None = Field(default=None, max_length=36)
    # The backup policy whose run made this backup (None: made by hand).
    policy_id: str | None = Field(default=None, index=True, max_length=36)
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    progress_done: int = Field(default=0, sa_type=BigInteger)
    progress_total: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    data_timestamp: datetime = Field(default_factory=utcnow)
    # The temporary point-in-time copy an in-use volume is backed up from (force=true);
    # set while it may exist on disk, cleared once it is removed.
    temp_snapshot_path: str | None = Field(default=None, max_length=4096)

    @property
    def is_incremental(self) -> bool:
        """True iff the backup has a parent."""
        return self.parent_id is not None

    @property
    def has_dependent_backups(self) -> bool:
        """True iff incremental children point at this backup."""
        return self.num_dependent_backups > 0


def _own_data(_mapper: Any, _connection: Any, backup: Backup) -> None:
    """Before a backup row is inserted: an unset ``data_id`` names the row's own data."""
    if not backup.data_id:
        backup.data_id = backup.id


event.listen(Backup, "before_insert", _own_data)


class SnapshotStatus(StrEnum):
    """Cinder's snapshot statuses (FIELDS.md 5); Safehold's flows use the first six."""

    CREATING = "creating"
    AVAILABLE = "available"
    BACKING_UP = "backing-up"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    DELETED = "deleted"
    UNMANAGING = "unmanaging"
    RESTORING = "restoring"
    UPDATING = "updating"


class Snapshot(SQLModel, table=True):
    """A point-in-time copy of a volume's bytes, kept as a file beside the volumes."""

    __tablename__ = "snapshots"

    id: str = Field(primary_key=True, max_length=36)
    project_id: str = Field(index=True, max_length=255)
    user_id: str = Field(max_length=255)
    volume_id: str = Field(index=True, max_length=36)
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    status: str = Field(default=SnapshotStatus.CREATING, max_length=32, index=True)
    # The status to return to after a backup of the snapshot (always available today).
    previous_status: str | None = Field(default=None, max_length=32)
    size: int = 0  # GiB of the source volume
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", JSON))
    progress: str = Field(default="0%", max_length=8)  # Cinder's "NN%"
    group_snapshot_id: str | None = Field(default=None, max_length=36)
    consumes_quota: bool = True
    path: str = Field(max_length=4096)  # where the point-in-time copy lives
    fail_reason: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=36)
    op_token: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class VolumeAttachment(SQLModel, table=True):
    """A volume attached to an instance (os-attach); the volume is in-use while it exists."""

    __tablename__ = "volume_attachments"

    id: str = Field(primary_key=True, max_length=36)
    volume_id: str = Field(index=True, max_length=36)
    instance_uuid: str | None = Field(default=None, max_length=36)
    attached_host: str | None = Field(default=None, max_length=255)
    mountpoint: str = Field(max_length=255)
    attach_mode: str = Field(default="rw", max_length=2)
    attached_at: datetime = Field(default_factory=utcnow)
