"""Request bodies of the Cinder snapshot routes, mirroring Cinder's JSON schemas (FIELDS.md 5).

Unknown keys are refused (400) as Cinder does. Which of the optional fields were sent
matters (update needs at least one; `force` changes meaning at 3.66), so routes read
`model_fields_set`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, StrictStr, StringConstraints

from api.cinder.schemas import Metadata, Strict, Text255, UUIDStr

Mountpoint = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class SnapshotCreate(Strict):
    """`{"snapshot": {...}}` of POST /snapshots; display_* are the v1-era spellings."""

    volume_id: UUIDStr
    name: Text255 | None = None
    display_name: Text255 | None = None
    description: Text255 | None = None
    display_description: Text255 | None = None
    force: bool | None = None
    metadata: Metadata | None = None


class SnapshotCreateBody(Strict):
    """POST /snapshots."""

    snapshot: SnapshotCreate


class SnapshotUpdate(Strict):
    """`{"snapshot": {...}}` of PUT /snapshots/{id}: at least one field; null clears."""

    name: Text255 | None = None
    display_name: Text255 | None = None
    description: Text255 | None = None
    display_description: Text255 | None = None


class SnapshotUpdateBody(Strict):
    """PUT /snapshots/{id}."""

    snapshot: SnapshotUpdate


class MetadataBody(Strict):
    """POST/PUT /snapshots/{id}/metadata."""

    metadata: Metadata


class MetaBody(Strict):
    """PUT /snapshots/{id}/metadata/{key}: exactly the URL's key."""

    meta: Metadata


class SnapshotResetStatus(Strict):
    """The value of a snapshot's `os-reset_status` action."""

    status: Text255


def _progress(value: str | None) -> str | None:
    # Cinder's "progress" format: an integer percentage 0..100 with "%"; empty is absent.
    if not value:
        return None
    try:
        number = int(value[:-1])
    except ValueError:
        raise ValueError("progress must be an integer percentage") from None
    if not 0 <= number <= 100 or not value.endswith("%"):
        raise ValueError("progress must be an integer percentage between 0 and 100")
    return f"{number}%"


class SnapshotStatusUpdate(Strict):
    """The value of `os-update_snapshot_status` (Cinder's snapshot_actions schema)."""

    status: StrictStr
    progress: Annotated[StrictStr | None, AfterValidator(_progress)] = None


class AttachSpec(Strict):
    """The value of a volume's `os-attach` action (cinderclient's volumes.attach)."""

    mountpoint: Mountpoint
    instance_uuid: UUIDStr | None = None
    host_name: Text255 | None = None
    mode: Literal["rw", "ro"] = "rw"


class DetachSpec(Strict):
    """The value of a volume's `os-detach` action; cinderclient sends attachment_id."""

    attachment_id: UUIDStr | None = None
