"""export_record / import_record in the catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from storage import catalog
from storage.catalog import Backup, BackupStatus, Volume
from storage.catalog.models import BACKUP_SERVICE
from storage.errors import InvalidRequest, InvalidStatus, RecordNotFound
from tests.storage.catalog.seed import P, Q, make_volume
from tests.storage.catalog.stored import add_row

STORE = "s3://AKIAEXAMPLE:s3cr3t@bucket/prefix?secret_key=s3cr3t#frag"
CINDER_FIELDS = {
    "id",
    "user_id",
    "project_id",
    "volume_id",
    "host",
    "availability_zone",
    "container",
    "parent_id",
    "status",
    "fail_reason",
    "size",
    "display_name",
    "display_description",
    "service_metadata",
    "service",
    "object_count",
    "temp_volume_id",
    "temp_snapshot_id",
    "num_dependent_backups",
    "snapshot_id",
    "data_timestamp",
    "restore_volume_id",
    "metadata",
    "encryption_key_id",
    "created_at",
    "updated_at",
    "deleted_at",
    "deleted",
    "driver_info",
}


def _chain(session: Session, volume_id: str, length: int) -> list[Backup]:
    chain = [add_row(session, project=P, volume_id=volume_id)]
    for _ in range(length - 1):
        chain.append(add_row(session, project=P, volume_id=volume_id, parent_id=chain[-1].id))
    return chain


def _export(session: Session, backup: Backup) -> tuple[str, str]:
    return catalog.export_backup(
        session=session, backup_id=backup.id, project_id=backup.project_id, store_url=STORE
    )


def _forget(session: Session, *backups: Backup) -> None:
    """Drop rows as a lost catalog would (no flow, no parent bookkeeping)."""
    for backup in backups:
        session.delete(session.get(Backup, backup.id))
    session.commit()


def _rows(session: Session) -> list[dict[str, Any]]:
    session.expire_all()
    return sorted((b.model_dump() for b in session.exec(select(Backup))), key=str)


def test_export_encodes_every_cinder_field_and_no_secret(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    root, child, leaf = _chain(session, vol.id, 3)
    service, url = _export(session, leaf)
    assert service == leaf.service == BACKUP_SERVICE
    raw = base64.b64decode(url, validate=True)  # standard alphabet, padded
    assert base64.b64encode(raw).decode() == url
    assert "s3cr3t" not in raw.decode() and "AKIAEXAMPLE" not in raw.decode()
    record = json.loads(raw)
    assert set(record) == CINDER_FIELDS
    assert record["id"] == leaf.id and record["parent_id"] == child.id
    assert (record["display_name"], record["display_description"]) == ("b", "desc")
    assert record["metadata"] == {"k": "v"} and record["status"] == "available"
    assert record["deleted"] is False and record["deleted_at"] is None
    assert record["driver_info"] == {
        "store_url": "s3://bucket/prefix",
        "data_id": leaf.id,
        "manifest_key": f"backups/{leaf.id}/manifest",
        "format_version": 3,
        "stored_bytes": 12345,
        "parent_chain": [child.id, root.id],
    }


def test_decode_round_trips_the_export(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    root, child = _chain(session, vol.id, 2)
    decoded = catalog.decode_record(_export(session, child)[1])
    assert (decoded.id, decoded.size, decoded.parent_id) == (child.id, 1, root.id)
    assert (decoded.display_name, decoded.metadata) == ("b", {"k": "v"})
    assert decoded.object_count == 3 and decoded.volume_id == vol.id
    assert decoded.created_at == child.created_at
    assert catalog.encode_record({"a": 1}) == catalog.encode_record({"a": 1})


def test_export_refuses_unavailable_and_foreign_backups(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    creating = add_row(session, project=P, volume_id=vol.id, status=BackupStatus.CREATING)
    with pytest.raises(InvalidStatus, match="must be available"):
        _export(session, creating)
    available = add_row(session, project=P, volume_id=vol.id)
    with pytest.raises(RecordNotFound):
        catalog.export_backup(session=session, backup_id=available.id, project_id=Q, store_url="")
    with pytest.raises(RecordNotFound):
        catalog.export_backup(session=session, backup_id="nope", project_id=P, store_url="")


def _b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


GOOD_ID = "0b1c9a0e-8f7a-4b8e-9a55-3c1f4c0b1a2d"
GOOD: dict[str, Any] = {"id": GOOD_ID, "size": 1}


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("not base64!", id="alphabet"),
        pytest.param("eyJ", id="padding"),
        pytest.param(base64.b64encode(b"\xff\xfe").decode(), id="not-utf8"),
        pytest.param(base64.b64encode(b"{nope").decode(), id="not-json"),
        pytest.param(_b64([GOOD]), id="list"),
        pytest.param(_b64({"size": 1}), id="no-id"),
        pytest.param(_b64({"id": GOOD["id"]}), id="no-size"),
        pytest.param(_b64({**GOOD, "id": "../etc"}), id="bad-id"),
        pytest.param(_b64({**GOOD, "size": -1}), id="negative-size"),
        pytest.param(_b64({**GOOD, "metadata": {"k": 1}}), id="metadata-type"),
        pytest.param(_b64({**GOOD, "volume_id": "v" * 37}), id="long-volume-id"),
    ],
)
def test_decode_refuses_malformed_records(url: str) -> None:
    with pytest.raises(InvalidRequest):
        catalog.decode_record(url)


def test_decode_normalises_the_id_and_ignores_unknown_keys() -> None:
    decoded = catalog.decode_record(_b64({**GOOD, "id": GOOD_ID.upper(), "future": [1]}))
    assert decoded.id == GOOD_ID and decoded.metadata is None


def _import(session: Session, url: str, service: str = BACKUP_SERVICE) -> Backup:
    record = catalog.decode_record(url)
    return catalog.import_backup(
        session=session, record=record, backup_service=service, project_id=Q, user_id="admin"
    )


def test_import_recreates_the_row_in_the_callers_project(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    (original,) = _chain(session, vol.id, 1)
    before = original.model_dump()
    _, url = _export(session, original)
    _forget(session, original)
    imported = _import(session, url)
    assert (imported.status, imported.project_id, imported.user_id) == ("available", Q, "admin")
    assert imported.volume_id == vol.id  # the volume is still in the catalog
    same = ("id", "name", "description", "size", "object_count", "stored_bytes", "meta")
    assert {k: getattr(imported, k) for k in same} == {k: before[k] for k in same}
    assert imported.created_at == before["created_at"]
    assert imported.container == "c" and imported.service == BACKUP_SERVICE


def test_import_of_an_unknown_volume_uses_the_nil_volume(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    (original,) = _chain(session, vol.id, 1)
    _, url = _export(session, original)
    _forget(session, original)
    session.delete(session.get(Volume, vol.id))
    session.commit()
    assert _import(session, url).volume_id == catalog.NIL_VOLUME_ID
    assert session.exec(select(Volume)).all() == []  # never invented


def test_import_refusals_change_nothing(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    root, child = _chain(session, vol.id, 2)
    _, root_url = _export(session, root)
    _, child_url = _export(session, child)
    snapshot = _rows(session)
    with pytest.raises(InvalidRequest, match="Backup already exists"):
        _import(session, root_url)
    assert _rows(session) == snapshot
    _forget(session, child, root)
    snapshot = _rows(session)
    with pytest.raises(InvalidRequest, match="not served here"):
        _import(session, root_url, service="cinder.backup.drivers.swift")
    assert _rows(session) == snapshot
    with pytest.raises(InvalidRequest, match="import the parent first"):
        _import(session, child_url)
    assert _rows(session) == snapshot


def test_import_refuses_a_child_of_an_unavailable_parent(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    root, child = _chain(session, vol.id, 2)
    _, child_url = _export(session, child)
    _forget(session, child)
    parent = session.get(Backup, root.id)
    assert parent is not None
    parent.status, parent.num_dependent_backups = BackupStatus.DELETING, 0
    parent.project_id = Q  # in the importing project: chains never span projects
    session.commit()
    with pytest.raises(InvalidRequest, match="must be available"):
        _import(session, child_url)
    session.refresh(parent)
    assert parent.num_dependent_backups == 0


def test_chains_import_parents_first_and_count_dependents(session: Session, tmp_path: Path) -> None:
    vol = make_volume(session, tmp_path)
    chain = _chain(session, vol.id, 3)
    urls = [_export(session, b)[1] for b in chain]
    _forget(session, *reversed(chain))
    with pytest.raises(InvalidRequest, match="import the parent first"):
        _import(session, urls[2])
    for url in urls:
        _import(session, url)
    session.expire_all()
    counts = [session.get(Backup, b.id).num_dependent_backups for b in chain]  # type: ignore[union-attr]
    assert counts == [1, 1, 0]
    parents = [session.get(Backup, b.id).parent_id for b in chain]  # type: ignore[union-attr]
    assert parents == [None, chain[0].id, chain[1].id]


def test_import_of_a_parent_counts_children_already_present(
    session: Session, tmp_path: Path
) -> None:
    vol = make_volume(session, tmp_path)
    root, _child = _chain(session, vol.id, 2)
    _, url = _export(session, root)
    _forget(session, root)  # only the parent row was lost
    assert _import(session, url).num_dependent_backups == 1
