"""Request bodies of the Cinder v3 routes, mirroring Cinder's JSON schemas.

Unknown keys are refused (400) as Cinder does, except inside a volume create below
3.53, where Cinder still tolerates them. Microversion-gated fields are checked by
`reject_unless`, since a pydantic model cannot see the request's microversion.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from api.faults import Fault
from api.microversion import APIVersion

M = TypeVar("M", bound=BaseModel)


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a 'uuid'") from None


UUIDStr = Annotated[str, AfterValidator(_uuid)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
MetaKey = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9\-_:. /]{1,255}$")]
Metadata = dict[MetaKey, Text255]


class Strict(BaseModel):
    """A body object that refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid")


class BackupCreate(Strict):
    """`{"backup": {...}}` of POST /backups (FIELDS.md 3.3)."""

    volume_id: UUIDStr
    name: Text255 | None = None
    description: Text255 | None = None
    container: Text255 | None = None
    incremental: bool = False
    force: bool = False
    snapshot_id: UUIDStr | None = None
    metadata: Metadata | None = None  # 3.43
    availability_zone: Text255 | None = None  # 3.51


class BackupCreateBody(Strict):
    """POST /backups."""

    backup: BackupCreate


class RestoreTarget(Strict):
    """`{"restore": {...}}`: an existing volume, or the name of a new one."""

    volume_id: UUIDStr | None = None
    name: Text255 | None = None


class RestoreBody(Strict):
    """POST /backups/{id}/restore; `restore` itself may be null."""

    restore: RestoreTarget | None


class BackupUpdate(Strict):
    """`{"backup": {...}}` of PUT /backups/{id} (FIELDS.md 3.4; mv 3.9)."""

    name: Text255 | None = None
    description: Text255 | None = None
    metadata: Metadata | None = None  # 3.43; replaces the whole dict


class BackupUpdateBody(Strict):
    """PUT /backups/{id}."""

    backup: BackupUpdate


class BackupResetStatus(Strict):
    """The value of a backup's `os-reset_status` action."""

    status: Text255


class BackupRecord(Strict):
    """`{"backup-record": {...}}` of POST /backups/import_record (FIELDS.md 3.6)."""

    backup_service: Text255
    backup_url: Annotated[str, StringConstraints(min_length=1)]


class BackupRecordBody(Strict):
    """POST /backups/import_record; the key has a dash on the wire."""

    backup_record: BackupRecord = Field(alias="backup-record")


class VolumeCreate(BaseModel):
    """`{"volume": {...}}` of POST /volumes; cinderclient sends most keys as null."""

    model_config = ConfigDict(extra="allow")

    size: Annotated[int, Field(gt=0, le=2**31 - 1)]
    name: Text255 | None = None
    description: Text255 | None = None
    display_name: Text255 | None = None
    display_description: Text255 | None = None
    volume_type: Text255 | None = None
    metadata: Metadata | None = None
    availability_zone: Text255 | None = None
    multiattach: bool | None = None
    snapshot_id: UUIDStr | None = None
    source_volid: UUIDStr | None = None
    consistencygroup_id: UUIDStr | None = None
    imageRef: Text255 | None = None  # the wire name, camelCase upstream
    image_id: Text255 | None = None
    group_id: Text255 | None = None  # 3.13
    backup_id: UUIDStr | None = None  # 3.47


class VolumeCreateBody(Strict):
    """POST /volumes, with the scheduler hints cinderclient may add (ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    volume: VolumeCreate
    scheduler_hints: dict[str, Any] | None = Field(default=None, alias="OS-SCH-HNT:scheduler_hints")


class ManageVolume(Strict):
    """`{"volume": {...}}` of Cinder's manage-existing call."""

    ref: dict[str, Any] | str
    host: Text255 | None = None
    cluster: Text255 | None = None  # 3.16
    name: Text255 | None = None
    description: Text255 | None = None
    availability_zone: Text255 | None = None
    bootable: bool = False
    volume_type: Text255 | None = None
    metadata: Metadata | None = None


class ManageBody(Strict):
    """POST /manageable_volumes (and the legacy /os-volume-manage)."""

    volume: ManageVolume


class ResetStatus(Strict):
    """The value of a volume's `os-reset_status` action."""

    status: Text255 | None = None
    attach_status: Literal["attached", "detached"] | None = None
    migration_status: Text255 | None = None


def parse_value(model: type[M], value: Any, *loc: str) -> M:
    """Validate a body fragment read by hand; errors read like body validation errors."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *loc, *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def reject_unless(
    body: BaseModel, where: str, version: APIVersion, gates: Mapping[str, tuple[int, int]]
) -> None:
    """400, as for an unknown key, for each given field the microversion does not know yet."""
    for name, since in gates.items():
        if name in body.model_fields_set and version < since:
            raise Fault(
                400,
                f"Invalid input for field/attribute {where}. "
                f"Additional properties are not allowed ('{name}' was unexpected)",
            )
