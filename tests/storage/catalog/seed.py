"""Catalog rows for the catalog tests: two projects, volumes as a create-volume flow
leaves them, and a fresh read of every row for "nothing changed" assertions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Backup, Snapshot, Volume, VolumeAttachment

P, Q = "proj-a", "proj-b"


def make_volume(
    session: Session,
    volumes_dir: Path,
    *,
    status: str = "available",
    project: str = P,
    size: int = 1,
) -> Volume:
    """A volume row of `project` in `status`, its file under volumes_dir (not created)."""
    return catalog.create_volume(
        session=session,
        project_id=project,
        user_id="u",
        size_gb=size,
        volumes_dir=volumes_dir,
        status=status,
    )


def available_backup(session: Session, volume: Volume) -> Backup:
    """A full backup of ``volume`` (project P) as the create-backup flow leaves it."""
    backup = catalog.begin_backup(session=session, project_id=P, user_id="u", volume_id=volume.id)
    assert catalog.finish_backup(
        session=session, backup_id=backup.id, object_count=1, stored_bytes=1
    )
    session.refresh(backup)
    return backup


def every_row(session: Session) -> list[dict[str, Any]]:
    """Every volume, snapshot, backup and attachment row, read fresh."""
    session.expire_all()
    found: list[dict[str, Any]] = []
    for model in (Volume, Snapshot, Backup, VolumeAttachment):
        found.extend(sorted((r.model_dump() for r in session.exec(select(model))), key=str))
    return found


def transitional_of(model: type[Any], session: Session) -> list[Any]:
    """The rows of ``model`` some flow run is expected to move on (catalog.transitional_rows)."""
    return [row for row in catalog.transitional_rows(session=session) if isinstance(row, model)]
