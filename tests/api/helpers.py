"""Request headers, catalog seeding and catalog snapshots for the API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Backup, Volume, VolumeStatus

PROJECT = "0c2eba2c5af04d3f9e9d0d410b371fde"
OTHER_PROJECT = "9d1a0f3e6b2c4e57a8f0c1d2e3f4a5b6"
USER = "alice"
ADMIN = "admin"


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


def catalog_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every volume and backup row, read fresh, for "nothing changed" assertions."""
    with Session(engine) as db:
        return {
            "volumes": sorted((v.model_dump() for v in db.exec(select(Volume))), key=str),
            "backups": sorted((b.model_dump() for b in db.exec(select(Backup))), key=str),
        }
