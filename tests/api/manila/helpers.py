"""Headers and catalog seeding for the Manila API tests."""

from __future__ import annotations

from sqlmodel import Session

from storage.catalog import Share, ShareBackup, ShareStatus, share_backups, shares
from storage.settings import Settings

PROJECT = "5a0c7e1f2b3d4c5e8f9a0b1c2d3e4f50"
OTHER_PROJECT = "7b1d8f2a3c4e5d6f9a0b1c2d3e4f5a61"
USER = "alice"
ADMIN = "admin"
MISSING = "0d6e4b5c-2d8a-4f0e-9a3b-1c2d3e4f5a6b"
SHARES = "/v2/shares"
BACKUPS = "/v2/share-backups"


def headers(
    user: str = USER,
    project: str | None = PROJECT,
    mv: str | None = "2.80",
    experimental: bool = True,
) -> dict[str, str]:
    """python-manilaclient's headers: noauth token, microversion, experimental flag."""
    out = {"X-Auth-Token": user if project is None else f"{user}:{project}"}
    if mv is not None:
        out["X-OpenStack-Manila-API-Version"] = mv
    if experimental:
        out["X-OpenStack-Manila-API-Experimental"] = "True"
    return out


def admin(mv: str | None = "2.80", project: str = PROJECT) -> dict[str, str]:
    """An admin's headers in `project`."""
    return headers(user=ADMIN, project=project, mv=mv)


def make_share(
    session: Session,
    settings: Settings,
    *,
    project: str = PROJECT,
    size: int = 2,
    status: str = ShareStatus.AVAILABLE,
    name: str | None = "data",
) -> Share:
    """A share row as a finished create-share flow leaves it (then put in `status`)."""
    share = shares.create_share(
        session=session,
        project_id=project,
        user_id=USER,
        size_gb=size,
        share_proto="NFS",
        shares_dir=settings.shares_dir,
        name=name,
    )
    assert shares.finish_share_setup(session=session, share_id=share.id)
    if status != ShareStatus.AVAILABLE:
        shares.reset_share_status(session=session, share_id=share.id, status=status)
    session.refresh(share)
    return share


def make_backup(
    session: Session,
    share: Share,
    *,
    name: str | None = "nightly",
    finish: bool = True,
    size_bytes: int = 1024,
) -> ShareBackup:
    """A backup of `share`: available (as create-share-backup leaves it) unless not `finish`."""
    backup = share_backups.begin_share_backup(
        session=session,
        project_id=share.project_id,
        user_id=USER,
        share_id=share.id,
        name=name,
    )
    if finish:
        result = {"object_count": 3, "stored_bytes": 512, "size_bytes": size_bytes, "stats": {}}
        assert share_backups.finish_share_backup(
            session=session, backup_id=backup.id, result=result
        )
    session.refresh(backup)
    return backup


def share_row(session: Session, share_id: str) -> Share:
    """The share's row, read fresh."""
    session.expire_all()
    return shares.get_share(session=session, share_id=share_id)


def backup_row(session: Session, backup_id: str) -> ShareBackup:
    """The backup's row, read fresh."""
    session.expire_all()
    return share_backups.get_share_backup(session=session, backup_id=backup_id)
