"""`safehold rebuild-catalog`: the same scan and insert as the flow, without Prefect."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, select

from deployments.cli import main
from storage import catalog
from storage.catalog import Backup
from storage.catalog.records import share_backup_record
from storage.format import tree
from storage.layout import manifest_key
from storage.objects import open_store_from_settings
from storage.settings import Settings
from tests.storage.catalog.stored import stored_backup, volume_file


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("SAFEHOLD_CATALOG_URL", "SAFEHOLD_BACKUP_URL", "SAFEHOLD_FAULT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path))
    return Settings()


def test_rebuild_catalog_command(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = catalog.make_engine(settings.resolved_catalog_url())
    catalog.migrate(engine)
    store = open_store_from_settings(settings)
    with Session(engine) as session:
        source = volume_file(tmp_path / "v.img", seed=1)
        root, result = stored_backup(session, store, project="p", volume_id="v", source=source)
        child, _ = stored_backup(
            session, store, project="p", volume_id="v", source=source, parent=result.manifest
        )
        for backup in session.exec(select(Backup)).all():
            session.delete(backup)
        session.commit()

    assert main(["rebuild-catalog"]) == 0
    out = capsys.readouterr().out
    assert "found 2, inserted 2, existing 0, invalid 0, orphans 0, unreadable 0" in out
    assert out.index(root.id) < out.index(child.id)  # parents first
    with Session(engine) as session:
        rows = {b.id: b for b in session.exec(select(Backup))}
    assert set(rows) == {root.id, child.id}
    assert rows[root.id].num_dependent_backups == 1 and rows[child.id].status == "available"

    # A damaged manifest is reported and makes the exit status say so; rerun is harmless.
    broken = str(uuid.uuid4())
    store.put(manifest_key(broken), b"garbage" * 10)
    assert main(["rebuild-catalog"]) == 1
    out = capsys.readouterr().out
    assert "inserted 0, existing 2" in out and f"skipped backup {broken}" in out
    engine.dispose()


def test_rebuild_catalog_creates_a_lost_database(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not (settings.data_path / "catalog.db").exists()
    assert main(["rebuild-catalog"]) == 0
    assert "found 0" in capsys.readouterr().out
    assert (settings.data_path / "catalog.db").exists()


def test_rebuild_catalog_recreates_share_backups(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = catalog.make_engine(settings.resolved_catalog_url())
    catalog.migrate(engine)
    tree_dir = tmp_path / "tree"
    tree_dir.mkdir()
    (tree_dir / "a.txt").write_text("hello share\n")
    with Session(engine) as session:
        share = catalog.shares.create_share(
            session=session,
            project_id="p",
            user_id="u",
            size_gb=1,
            share_proto="NFS",
            path=str(tree_dir),
        )
        share_id = share.id
        catalog.shares.finish_share_setup(session=session, share_id=share_id)
        backup = catalog.share_backups.begin_share_backup(
            session=session, project_id="p", user_id="u", share_id=share_id, name="kept"
        )
        backup_id = backup.id
        result = tree.write_tree_backup(
            open_store_from_settings(settings),
            share_id=share_id,
            backup_id=backup_id,
            source_dir=tree_dir,
            record=share_backup_record(backup),
        )
        session.delete(backup)
        session.commit()

    assert main(["rebuild-catalog"]) == 0
    assert f"re-created backup {backup_id}" in capsys.readouterr().out
    with Session(engine) as session:
        row = catalog.share_backups.get_share_backup(session=session, backup_id=backup_id)
    assert (row.status, row.name, row.share_id) == ("available", "kept", share_id)
    assert row.size_bytes == result.size_bytes == len("hello share\n")
    engine.dispose()
