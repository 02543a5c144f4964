"""Trove request bodies (unknown keys are ignored, as Trove's schema allows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DatastoreSpec(_Body):
    type: str | None = None
    version: str | None = None


class VolumeSpec(_Body):
    size: int = Field(1, ge=1)


class DatabaseSpec(_Body):
    name: str


class RestorePoint(_Body):
    backupRef: str  # noqa: N815 (Trove's wire name)


class InstanceCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    flavorRef: str | int | None = None  # noqa: N815 (Trove's wire name; one flavor here)
    volume: VolumeSpec = Field(default_factory=lambda: VolumeSpec(size=1))
    datastore: DatastoreSpec = Field(default_factory=DatastoreSpec)
    databases: list[DatabaseSpec] = Field(default_factory=list)
    restorePoint: RestorePoint | None = None  # noqa: N815 (Trove's wire name)


class InstanceCreateBody(_Body):
    instance: InstanceCreate


class InstanceManage(_Body):
    name: str = Field(min_length=1, max_length=255)
    database: str
    datastore: DatastoreSpec = Field(default_factory=DatastoreSpec)
    volume: VolumeSpec = Field(default_factory=lambda: VolumeSpec(size=1))


class InstanceManageBody(_Body):
    instance: InstanceManage


class BackupCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    instance: str | None = None
    description: str | None = Field(None, max_length=255)
    parent_id: str | None = None
    incremental: bool = False
    swift_container: str | None = None
    storage_driver: str | None = None
    restore_from: dict[str, Any] | None = None

    @field_validator("incremental", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool:
        """0/1, booleans and boolean words, as troveclient and the api-ref send them."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str):
            return value.strip().lower() in TRUE_WORDS
        return bool(value)


class BackupCreateBody(_Body):
    backup: BackupCreate
