"""Request headers, catalog seeding and catalog snapshots for the API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Backup, Snapshot, Volume, VolumeAttachment, VolumeStatus

PROJECT = "0c2eba2c5af04d3f9e9d0d410b371fde"
OTHER_PROJECT = "9d1a0f3e6b2c4e57a8f0c1d2e3f4a5b6"
USER = "alice"
ADMIN = "admin"
VOLUMES = f"/v3/{PROJECT}/volumes"
SNAPSHOTS = f"/v3/{PROJECT}/snapshots"
BACKUPS = f"/v3/{PROJECT}/backups"
# A well-formed id no row has.
MISSING = "0d6e4b5c-2d8a-4f0e-9a3b-1c2d3e4f5a6b"


def headers(
    user: str = USER, project: str | None = PROJECT, mv: str | None = None
) -> dict[str, str]:
    """cinderclient-style noauth headers, optionally with a microversion."""
    token = user if project is None else f"{user}:{project}"
    out = {"X-Auth-Token": token}
    if mv is not None:
        out["OpenStack-API-Version"] = f"volume {mv}"
    return out


def make_volume(
    session: Session,
    volumes_dir: Path,
    *,
    project: str = PROJECT,
    status: str = VolumeStatus.AVAILABLE,
    size: int = 1,
    name: str | None = "vol",
) -> Volume:
    """A volume row as a finished create-volume flow would leave it."""
    return catalog.create_volume(
        session=session,
        project_id=project,
        user_id=USER,
        size_gb=size,
        name=name,
        volumes_dir=volumes_dir,
        status=status,
    )


def make_snapshot(
    session: Session, volume: Volume, *, project: str = PROJECT, **kw: Any
) -> Snapshot:
    """An available snapshot row, as a finished create-snapshot flow leaves it."""
    snap = catalog.begin_snapshot(
        session=session,
        project_id=project,
        user_id=USER,
        volume_id=volume.id,
        snapshots_dir=Path("/nonexistent"),
        **kw,
    )
    catalog.finish_snapshot(session=session, snapshot_id=snap.id)
    session.refresh(snap)
    return snap


def snapshot_row(engine: Engine, snapshot_id: str) -> Snapshot:
    """The snapshot's row, read fresh."""
    with Session(engine) as db:
        return catalog.get_snapshot(session=db, snapshot_id=snapshot_id)


def catalog_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every volume and backup row, read fresh, for "nothing changed" assertions."""
    with Session(engine) as db:
        return {
            "volumes": sorted((v.model_dump() for v in db.exec(select(Volume))), key=str),
            "backups": sorted((b.model_dump() for b in db.exec(select(Backup))), key=str),
        }


def every_row(engine: Engine) -> list[dict[str, Any]]:
    """Every volume, snapshot, backup and attachment row, read fresh, for "nothing
    changed" assertions around snapshots and attachments."""
    found: list[dict[str, Any]] = []
    with Session(engine) as db:
        for model in (Volume, Snapshot, Backup, VolumeAttachment):
            found.extend(sorted((r.model_dump() for r in db.exec(select(model))), key=str))
    return found
