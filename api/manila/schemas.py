"""Request bodies of the Manila routes, as lenient as Manila's controllers are.

Manila reads the keys it knows and ignores the rest (python-manilaclient sends many as
null), so these models allow extra keys; bad values of known keys are 400 badRequest.
Bodies read by hand (actions, share backups) go through `parse_value`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

M = TypeVar("M", bound=BaseModel)

Text255 = Annotated[str, StringConstraints(max_length=255)]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=255)]
MetaValue = Annotated[str, StringConstraints(max_length=1023)]
Metadata = dict[MetaKey, MetaValue]


class Lenient(BaseModel):
    """A body object that ignores keys it does not know, as Manila does."""

    model_config = ConfigDict(extra="ignore")


class ShareCreate(Lenient):
    """`{"share": {...}}` of POST /shares."""

    share_proto: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    size: Annotated[int, Field(gt=0, le=2**31 - 1)]
    name: Text255 | None = None
    description: Text255 | None = None
    display_name: Text255 | None = None
    display_description: Text255 | None = None
    metadata: Metadata | None = None
    availability_zone: Text255 | None = None
    share_type: Text255 | None = None
    is_public: bool = False
    snapshot_id: str | None = None
    share_network_id: str | None = None
    share_group_id: str | None = None


class ShareCreateBody(Lenient):
    """POST /shares."""

    share: ShareCreate


class ShareUpdate(Lenient):
    """`{"share": {...}}` of PUT /shares/{id}: Manila's display_* keys, or name/description."""

    display_name: Text255 | None = None
    display_description: Text255 | None = None
    name: Text255 | None = None
    description: Text255 | None = None
    is_public: bool | None = None


class ShareUpdateBody(Lenient):
    """PUT /shares/{id}."""

    share: ShareUpdate


class ShareManage(Lenient):
    """`{"share": {...}}` of POST /shares/manage (admin)."""

    protocol: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    export_path: str | dict[str, Any]
    service_host: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    name: Text255 | None = None
    description: Text255 | None = None
    display_name: Text255 | None = None
    display_description: Text255 | None = None
    share_type: Text255 | None = None
    driver_options: dict[str, Any] | None = None
    is_public: bool = False


class ShareManageBody(Lenient):
    """POST /shares/manage."""

    share: ShareManage


class StatusValue(Lenient):
    """The value of a `reset_status` action."""

    status: Annotated[str, StringConstraints(min_length=1, max_length=255)]


class MetadataBody(Lenient):
    """POST/PUT /shares/{id}/metadata."""

    metadata: Metadata


class ShareBackupCreate(Lenient):
    """The `share_backup` object of POST /share-backups (FIELDS.md 11.2)."""

    share_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    name: Text255 | None = None
    description: Text255 | None = None
    backup_options: dict[str, Any] | None = None


class ShareBackupUpdate(Lenient):
    """The `share_backup` object of PUT /share-backups/{id}; display_* are accepted too."""

    name: Text255 | None = None
    description: Text255 | None = None
    display_name: Text255 | None = None
    display_description: Text255 | None = None


class RestoreTarget(Lenient):
    """`{"restore": {"target_share_id": id}}`: the dict form of a 2.91 targeted restore."""

    target_share_id: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = None


def parse_value(model: type[M], value: Any, *loc: str) -> M:
    """Validate a body fragment read by hand; errors read like body validation errors."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *loc, *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
