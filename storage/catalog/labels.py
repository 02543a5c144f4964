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
from storage.catalog.db_models import DbInstance
from storage.catalog.kinds import kind_of
from storage.catalog.models import Volume
from storage.catalog.share_models import Share

# A backup row's resource: (column naming it, its table).
_OWNERS: dict[str, tuple[str, Any]] = {
    "backup": ("volume_id", Volume),
    "share_backup": ("share_id", Share),
    "db_backup": ("instance_id", DbInstance),
}
_RESOURCE_KINDS: dict[Any, str] = {Volume: "volume", Share: "share", DbInstance: "instance"}
_CREATE_FLOWS = frozenset({"create-backup", "create-share-backup", "create-db-backup"})


def subject(session: Session, record: Row) -> str:
    """The name operators know the run's resource by (the id when it has no name)."""
    owner = _OWNERS.get(kind_of(record).name)
    row: Any = record
    if owner is not None:
        column, model = owner
        row = session.get(model, getattr(record, column) or "") or record
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
    owner = _OWNERS.get(kind)
    if owner is not None:
        column, model = owner
        tags.append(f"{_RESOURCE_KINDS[model]}:{getattr(record, column)}")
    policy = getattr(record, "policy_id", None)
    return tags + ([f"policy:{policy}"] if policy else [])
