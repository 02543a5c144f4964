"""Share flows' hooks: however a run ends badly, its share backup and share settle."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlmodel import Session

from flows import hooks
from storage.catalog import ShareBackupStatus as SB
from storage.catalog import ShareStatus as SH
from storage.catalog import share_backups, shares


def _run(run_id: str, **parameters: str) -> Any:
    return SimpleNamespace(id=run_id, parameters=parameters)


def _state(kind: str = "CRASHED", message: str = "process died") -> Any:
    return SimpleNamespace(type=SimpleNamespace(value=kind), message=message)


def _available_share(session: Session, tmp_path: Path) -> str:
    share = shares.create_share(
        session=session,
        project_id="p",
        user_id="u",
        size_gb=1,
        share_proto="NFS",
        shares_dir=tmp_path,
    )
    assert shares.finish_share_setup(session=session, share_id=share.id)
    return share.id


def test_a_crashed_backup_run_fails_the_backup_and_frees_the_share(
    flow_catalog: Session, tmp_path: Path
) -> None:
    share_id = _available_share(flow_catalog, tmp_path)
    backup = share_backups.begin_share_backup(
        session=flow_catalog, project_id="p", user_id="u", share_id=share_id
    )
    share_backups_row = share_backups.get_share_backup(session=flow_catalog, backup_id=backup.id)
    share_backups_row.flow_run_id = "run-1"
    flow_catalog.add(share_backups_row)
    flow_catalog.commit()

    hooks.share_backup_run_ended(None, _run("run-other", backup_id=backup.id), _state())
    flow_catalog.expire_all()
    assert share_backups.get_share_backup(session=flow_catalog, backup_id=backup.id).status == (
        SB.CREATING
    ), "another run's hook must leave the row alone"

    hooks.share_backup_run_ended(None, _run("run-1", backup_id=backup.id), _state())
    flow_catalog.expire_all()
    failed = share_backups.get_share_backup(session=flow_catalog, backup_id=backup.id)
    assert failed.status == SB.ERROR
    assert failed.fail_reason == "flow run run-1 crashed: process died"
    assert shares.get_share(session=flow_catalog, share_id=share_id).status == SH.AVAILABLE


def test_a_failed_create_share_run_leaves_the_share_error(
    flow_catalog: Session, tmp_path: Path
) -> None:
    share = shares.create_share(
        session=flow_catalog,
        project_id="p",
        user_id="u",
        size_gb=1,
        share_proto="NFS",
        shares_dir=tmp_path,
    )
    hooks.share_run_ended(None, _run("run-2", share_id=share.id), _state("FAILED", "disk full"))
    flow_catalog.expire_all()
    failed = shares.get_share(session=flow_catalog, share_id=share.id)
    assert (failed.status, failed.fail_reason) == (SH.ERROR, "flow run run-2 failed: disk full")
