"""Rebuilding backup rows from a real file:// store, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Backup, Volume
from storage.errors import CorruptData, ObjectNotFound
from storage.format import write_backup
from storage.format.scan import read_committed, scan_store
from storage.layout import manifest_key
from storage.objects import ObjectStore, open_store
from tests.storage.catalog.stored import BLOCK, SEGMENT, stored_backup, volume_file

P, Q = "proj-a", "proj-b"
KEPT = (
    *("id", "project_id", "user_id", "volume_id", "parent_id", "name", "description", "size"),
    *("object_count", "stored_bytes", "container", "availability_zone", "meta", "service"),
    *("num_dependent_backups", "status", "created_at", "data_timestamp"),
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store(f"file://{tmp_path / 'store'}")


def _rows(session: Session) -> dict[str, dict[str, Any]]:
    session.expire_all()
    return {b.id: {k: getattr(b, k) for k in KEPT} for b in session.exec(select(Backup))}


def _forget_all(session: Session) -> None:
    for backup in session.exec(select(Backup)).all():
        session.delete(backup)
    session.commit()


def _rebuild(session: Session, store: ObjectStore) -> catalog.RebuildResult:
    return catalog.rebuild_backups(session=session, records=scan_store(store).records())


@pytest.fixture
def chains(session: Session, store: ObjectStore, tmp_path: Path) -> list[Backup]:
    """A three-backup chain of one volume (incrementals) and a full backup of another."""
    vol = volume_file(tmp_path / "a.img", seed=1)
    root, result = stored_backup(session, store, project=P, volume_id="vol-a", source=vol)
    chain = [root]
    for seed in (2, 3):
        volume_file(vol, seed=seed)  # rewrites a few blocks: real incrementals
        child, result = stored_backup(
            session, store, project=P, volume_id="vol-a", source=vol, parent=result.manifest
        )
        chain.append(child)
    other, _ = stored_backup(
        session, store, project=Q, volume_id="vol-b", source=volume_file(tmp_path / "b.img", 4)
    )
    return [*chain, other]


def test_scan_reads_every_committed_backup(store: ObjectStore, chains: list[Backup]) -> None:
    scan = scan_store(store)
    assert sorted(b.backup_id for b in scan.backups) == sorted(b.id for b in chains)
    assert scan.unreadable == {}
    by_id = {r["id"]: r for r in scan.records()}
    for backup in chains:
        record = by_id[backup.id]
        # What the manifest proves equals what the finished row says.
        assert (record["object_count"], record["stored_bytes"]) == (
            backup.object_count,
            backup.stored_bytes,
        )
        assert record["parent_id"] == backup.parent_id
        assert record["status"] == "creating"  # the record was written mid-backup


def test_rebuild_restores_chains_parents_first(
    session: Session, store: ObjectStore, chains: list[Backup]
) -> None:
    before = _rows(session)
    assert [before[b.id]["num_dependent_backups"] for b in chains] == [1, 1, 0, 0]
    _forget_all(session)
    result = _rebuild(session, store)
    assert result.counts() == {"found": 4, "inserted": 4, "existing": 0, "invalid": 0, "orphans": 0}
    order = list(result.inserted_ids)
    assert order.index(chains[0].id) < order.index(chains[1].id) < order.index(chains[2].id)
    assert _rows(session) == before  # same rows, available, dependents recounted
    assert session.exec(select(Volume)).all() == []  # volumes are never invented


def test_rebuild_is_idempotent_and_leaves_existing_rows_alone(
    session: Session, store: ObjectStore, chains: list[Backup]
) -> None:
    renamed = session.get(Backup, chains[3].id)
    assert renamed is not None
    renamed.name = "renamed after the manifest was written"
    session.commit()
    before = _rows(session)
    result = _rebuild(session, store)
    assert (result.inserted, result.existing) == (0, 4)
    assert _rows(session) == before
    _forget_all(session)
    _rebuild(session, store)
    again = _rebuild(session, store)
    assert (again.inserted, again.existing) == (0, 4)


def test_rebuild_of_a_lost_parent_recounts_its_children(
    session: Session, store: ObjectStore, chains: list[Backup]
) -> None:
    before = _rows(session)
    session.delete(session.get(Backup, chains[1].id))  # a middle row, children kept
    session.commit()
    result = _rebuild(session, store)
    assert result.inserted_ids == (chains[1].id,)
    assert _rows(session) == before


def test_rebuild_skips_unusable_manifests_and_records(
    session: Session, store: ObjectStore, chains: list[Backup], tmp_path: Path
) -> None:
    broken = str(uuid.uuid4())
    store.put(manifest_key(broken), b"SAFEHOLD but not a manifest at all" * 3)
    recordless = str(uuid.uuid4())  # a manifest whose record lacks the owner fields
    write_backup(
        store,
        backup_id=recordless,
        source_path=volume_file(tmp_path / "c.img", 5),
        record={"id": recordless},
        block_size=BLOCK,
        segment_size=SEGMENT,
    )
    _forget_all(session)
    scan = scan_store(store)
    assert set(scan.unreadable) == {broken}
    result = catalog.rebuild_backups(session=session, records=scan.records())
    assert (result.found, result.inserted, result.invalid) == (5, 4, 1)
    assert set(_rows(session)) == {b.id for b in chains}


def test_rebuild_inserts_orphans_and_counts_them(session: Session) -> None:
    lost_parent = str(uuid.uuid4())
    record = {"id": str(uuid.uuid4()), "project_id": P, "user_id": "u", "volume_id": "v"}
    record["parent_id"] = lost_parent
    result = catalog.rebuild_backups(session=session, records=[record])
    assert (result.inserted, result.orphans) == (1, 1)
    row = session.get(Backup, record["id"])
    assert row is not None and row.status == "available" and row.parent_id == lost_parent


def test_read_committed_checks_the_record_id(store: ObjectStore, tmp_path: Path) -> None:
    backup_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    write_backup(
        store,
        backup_id=backup_id,
        source_path=volume_file(tmp_path / "d.img", 6),
        record={"id": other},
        block_size=BLOCK,
        segment_size=SEGMENT,
    )
    with pytest.raises(CorruptData, match="record of another backup"):
        read_committed(store, backup_id)
    with pytest.raises(ObjectNotFound):
        read_committed(store, other)
