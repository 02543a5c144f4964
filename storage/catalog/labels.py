"""What a flow run is called and tagged in the Prefect UI: what it does, and to what.

Used by the API for the runs it starts and by flows for the child runs they start.

Names read "<flow> <subject>[ <mode>]": the subject is the resource's name when it has
one (a backup's volume, share or instance, else its own id), the mode "full" or
"incremental" for a new backup. Tags let operators filter: project, resource kind,
resource id, and the policy that made a backup.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from storage.catalog import Row
from storage.catalog.kinds import kind_of
from storage.catalog.policy_targets import TARGET_KINDS, TargetKind

_CREATE_FLOWS = frozenset({"create-backup", "create-share-backup", "create-db-backup"})


def _owner_kind(record: Row) -> TargetKind | None:
    """The resource kind a backup row belongs to (None: the row is no backup)."""
    return next((k for k in TARGET_KINDS.values() if isinstance(record, k.backup)), None)


def subject(session: Session, record: Row) -> str:
    """The name operators know the run's resource by (the id when it has no name)."""
    owner = _owner_kind(record)
    row: Any = record
    if owner is not None:
        row = session.get(owner.resource, getattr(record, owner.owner) or "") or record
    return str(getattr(row, "name", None) or row.id)


def run_name(session: Session, flow: str, record: Row) -> str:
    """`create-backup db01 incremental`, `delete-volume vol-7`, ..."""
    name = f"{flow} {subject(session, record)}"
    if flow in _CREATE_FLOWS:
        name += " incremental" if getattr(record, "parent_id", None) else " full"
    return name


def run_tags(record: Row) -> list[str]:
    """project, kind and id of the row, and of the resource a backup belongs to
    (`volume:<id>`), and its policy when a policy made it."""
    kind = kind_of(record).name
    tags = [f"project:{record.project_id}", f"kind:{kind}", f"{kind}:{record.id}"]
    owner = _owner_kind(record)
    if owner is not None:
        tags.append(f"{owner.name}:{getattr(record, owner.owner)}")
    policy = getattr(record, "policy_id", None)
    return tags + ([f"policy:{policy}"] if policy else [])
