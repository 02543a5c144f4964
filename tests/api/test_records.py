"""export_record / import_record (Cinder v3) and POST /v1/{project}/catalog/rebuild."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.catalog import Backup, BackupStatus
from storage.catalog.models import BACKUP_SERVICE
from storage.format import write_backup
from storage.layout import manifest_key
from storage.objects import ObjectStore, open_store_from_settings
from storage.settings import Settings
from tests.storage.catalog.stored import BLOCK, SEGMENT, stored_backup, volume_file

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, USER, catalog_rows, headers, make_volume

BACKUPS = f"/v3/{PROJECT}/backups"
IMPORT = f"{BACKUPS}/import_record"
REBUILD = f"/v1/{PROJECT}/catalog/rebuild"
ID = "6f1d3c4e-2a5b-4c8d-9e0f-1a2b3c4d5e6f"


@pytest.fixture
def store(settings: Settings) -> ObjectStore:
    return open_store_from_settings(settings)


@pytest.fixture
def chain(
    client: TestClient, session: Session, settings: Settings, store: ObjectStore
) -> list[Backup]:
    """A full backup and an incremental child, data in the service's store."""
    volume = make_volume(session, settings.volumes_dir)
    source = volume_file(Path(volume.path), seed=7)
    root, result = stored_backup(
        session, store, project=PROJECT, volume_id=volume.id, source=source
    )
    volume_file(source, seed=8)
    child, _ = stored_backup(
        session, store, project=PROJECT, volume_id=volume.id, source=source, parent=result.manifest
    )
    return [root, child]


def _export(client: TestClient, backup_id: str) -> dict[str, str]:
    response = client.get(f"{BACKUPS}/{backup_id}/export_record", headers=headers(ADMIN))
    assert response.status_code == 200, response.text
    record: dict[str, str] = response.json()["backup-record"]
    return record


def _forget(session: Session, *backups: Backup) -> None:
    for backup in backups:
        session.delete(session.get(Backup, backup.id))
    session.commit()


def _import(client: TestClient, record: dict[str, Any], user: str = ADMIN) -> Any:
    return client.post(IMPORT, json={"backup-record": record}, headers=headers(user))


def test_export_answers_service_and_base64_record(client: TestClient, chain: list[Backup]) -> None:
    record = _export(client, chain[1].id)
    assert set(record) == {"backup_service", "backup_url"}
    assert record["backup_service"] == BACKUP_SERVICE
    decoded = json.loads(base64.b64decode(record["backup_url"], validate=True))
    assert decoded["id"] == chain[1].id and decoded["parent_id"] == chain[0].id
    assert decoded["driver_info"]["parent_chain"] == [chain[0].id]
    v2 = client.get(f"/v2/{PROJECT}/backups/{chain[1].id}/export_record", headers=headers(ADMIN))
    assert v2.status_code == 200 and v2.json()["backup-record"] == record


def test_export_refusals(client: TestClient, session: Session, chain: list[Backup]) -> None:
    url = f"{BACKUPS}/{chain[0].id}/export_record"
    response = client.get(url, headers=headers(USER))
    assert response.status_code == 403 and "forbidden" in response.json()
    other = client.get(
        f"/v3/{OTHER_PROJECT}/backups/{chain[0].id}/export_record",
        headers=headers(ADMIN, OTHER_PROJECT),
    )
    assert other.status_code == 404 and "itemNotFound" in other.json()
    missing = client.get(f"{BACKUPS}/{uuid.uuid4()}/export_record", headers=headers(ADMIN))
    assert missing.status_code == 404
    row = session.get(Backup, chain[0].id)
    assert row is not None
    row.status = BackupStatus.ERROR
    session.commit()
    response = client.get(url, headers=headers(ADMIN))
    assert response.status_code == 400
    assert "must be available" in response.json()["badRequest"]["message"]


def test_export_delete_row_import_round_trip(
    client: TestClient, session: Session, chain: list[Backup], app: FastAPI
) -> None:
    records = [_export(client, b.id) for b in chain]
    before = {b.id: (b.name, b.size, b.object_count, b.stored_bytes, b.meta) for b in chain}
    _forget(session, *reversed(chain))
    for backup, record in zip(chain, records, strict=True):
        response = _import(client, record)
        assert response.status_code == 201, response.text
        summary = response.json()["backup"]
        assert set(summary) == {"id", "links", "name"} and summary["id"] == backup.id
        assert summary["links"][0]["href"].endswith(f"/v3/{PROJECT}/backups/{backup.id}")
    shown = client.get(f"{BACKUPS}/{chain[0].id}", headers=headers(ADMIN)).json()["backup"]
    assert shown["status"] == "available" and shown["has_dependent_backups"] is True
    session.expire_all()
    after = {}
    for b in chain:
        row = session.get(Backup, b.id)
        assert row is not None
        after[b.id] = (row.name, row.size, row.object_count, row.stored_bytes, row.meta)
    assert after == before
    again = _import(client, records[0])
    assert again.status_code == 400
    assert "Backup already exists" in again.json()["badRequest"]["message"]


def test_import_needs_the_parent_first(
    client: TestClient, session: Session, chain: list[Backup], app: FastAPI
) -> None:
    child_record = _export(client, chain[1].id)
    _forget(session, *reversed(chain))
    before = catalog_rows(app.state.engine)
    response = _import(client, child_record)
    assert response.status_code == 400
    assert "import the parent first" in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def _b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _record(backup_id: str, **extra: Any) -> dict[str, str]:
    record = {"id": backup_id, "size": 1, **extra}
    return {"backup_service": BACKUP_SERVICE, "backup_url": _b64(record)}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"backup_record": {}}, "backup-record. Field required"),
        ({"backup-record": {"backup_service": BACKUP_SERVICE}}, "backup_url"),
        ({"backup-record": {**_record("x"), "extra": 1}}, "'extra' was unexpected"),
        ({"backup-record": {"backup_service": BACKUP_SERVICE, "backup_url": ""}}, "url"),
        ({"backup-record": {"backup_service": "x", "backup_url": "%%%"}}, "base64"),
        ({"backup-record": {"backup_service": "x", "backup_url": _b64([1])}}, "JSON object"),
        ({"backup-record": {"backup_service": "x", "backup_url": _b64({"size": 1})}}, "'id'"),
        ({"backup-record": {"backup_service": "x", "backup_url": _b64({"id": ID})}}, "'size'"),
        ({"backup-record": _record("not-a-uuid")}, "not a 'uuid'"),
    ],
)
def test_import_schema_errors(
    client: TestClient, app: FastAPI, body: dict[str, Any], fragment: str
) -> None:
    before = catalog_rows(app.state.engine)
    response = client.post(IMPORT, json=body, headers=headers(ADMIN))
    assert response.status_code == 400, response.text
    assert fragment in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def test_import_refuses_what_is_not_in_the_store(
    client: TestClient, app: FastAPI, store: ObjectStore, settings: Settings
) -> None:
    before = catalog_rows(app.state.engine)
    unknown = str(uuid.uuid4())
    response = _import(client, _record(unknown))
    assert response.status_code == 400
    assert f"backups/{unknown}/manifest" in response.json()["badRequest"]["message"]

    corrupt = str(uuid.uuid4())
    store.put(manifest_key(corrupt), b"not a manifest" * 8)
    response = _import(client, _record(corrupt))
    assert response.status_code == 400 and "unusable" in response.json()["badRequest"]["message"]

    # A manifest whose record names another backup is not this backup's data.
    mismatched = str(uuid.uuid4())
    write_backup(
        store,
        backup_id=mismatched,
        source_path=volume_file(settings.data_path / "x.img", seed=9),
        record={"id": unknown},
        block_size=BLOCK,
        segment_size=SEGMENT,
    )
    response = _import(client, _record(mismatched))
    assert response.status_code == 400 and "unusable" in response.json()["badRequest"]["message"]

    foreign = _import(client, {**_record(unknown), "backup_service": "cinder.backup.drivers.swift"})
    assert foreign.status_code == 400 and "not served" in foreign.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def test_import_refuses_a_parent_mismatch(
    client: TestClient, session: Session, chain: list[Backup], app: FastAPI
) -> None:
    record = json.loads(base64.b64decode(_export(client, chain[1].id)["backup_url"]))
    _forget(session, chain[1])
    before = catalog_rows(app.state.engine)
    response = _import(client, _record(chain[1].id, parent_id=None, **_without(record)))
    assert response.status_code == 400
    assert "written against" in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def _without(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "size", "parent_id")}


def test_import_is_admin_only(client: TestClient, app: FastAPI, chain: list[Backup]) -> None:
    before = catalog_rows(app.state.engine)
    response = _import(client, _record(str(uuid.uuid4())), user=USER)
    assert response.status_code == 403 and "forbidden" in response.json()
    assert catalog_rows(app.state.engine) == before


def test_imported_backup_of_an_unknown_volume(
    client: TestClient, session: Session, chain: list[Backup]
) -> None:
    record = _export(client, chain[0].id)
    _forget(session, *reversed(chain))
    volume = session.get(catalog.Volume, chain[0].volume_id)
    session.delete(volume)
    session.commit()
    assert _import(client, record).status_code == 201
    shown = client.get(f"{BACKUPS}/{chain[0].id}", headers=headers(ADMIN)).json()["backup"]
    assert shown["volume_id"] == catalog.NIL_VOLUME_ID


def test_rebuild_starts_a_run_for_admins_only(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    denied = client.post(REBUILD, headers=headers(USER))
    assert denied.status_code == 403 and launcher.submissions == []
    first = client.post(REBUILD, headers=headers(ADMIN))
    second = client.post(REBUILD, headers=headers(ADMIN))
    assert first.status_code == second.status_code == 202
    runs = [r.json()["rebuild"]["flow_run_id"] for r in (first, second)]
    assert runs == [s.flow_run_id for s in launcher.submissions] and runs[0] != runs[1]
    assert {s.deployment for s in launcher.submissions} == {"rebuild-catalog/safehold"}
    assert launcher.submissions[0].parameters == {}
    launcher.fail_with = "down"
    assert client.post(REBUILD, headers=headers(ADMIN)).status_code == 503


def test_rebuild_is_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v1/{project_id}/catalog/rebuild"]
    assert "get" in paths["/v3/{project_id}/backups/{backup_id}/export_record"]
    assert "post" in paths["/v3/{project_id}/backups/import_record"]


def _renamed(record: dict[str, str], **changes: Any) -> dict[str, str]:
    """tempest's _modify_backup_url: the same record with fields changed (e.g. a new id)."""
    decoded = json.loads(base64.b64decode(record["backup_url"]))
    decoded.update(changes)
    return {**record, "backup_url": _b64(decoded)}


def test_import_under_a_new_id_reads_the_original_data(
    client: TestClient, session: Session, chain: list[Backup]
) -> None:
    new_id = str(uuid.uuid4())
    response = _import(client, _renamed(_export(client, chain[0].id), id=new_id))
    assert response.status_code == 201, response.text
    assert response.json()["backup"]["id"] == new_id
    row = session.get(Backup, new_id)
    assert row is not None and (row.status, row.data_id) == ("available", chain[0].id)
    # The import's own export names the same data, so it can be imported again.
    again = json.loads(base64.b64decode(_export(client, new_id)["backup_url"]))
    assert (again["id"], again["driver_info"]["data_id"]) == (new_id, chain[0].id)


def test_incremental_chain_imported_under_new_ids(
    client: TestClient, session: Session, chain: list[Backup], app: FastAPI
) -> None:
    root_record, child_record = (_export(client, b.id) for b in chain)
    new_root, new_child = str(uuid.uuid4()), str(uuid.uuid4())
    assert _import(client, _renamed(root_record, id=new_root)).status_code == 201

    # The child's record still names the original parent, which reads other data than a
    # row the child could be renamed onto: naming the wrong parent row is refused.
    stranger = str(uuid.uuid4())
    assert _import(client, _renamed(child_record, id=stranger)).status_code == 201
    before = catalog_rows(app.state.engine)
    wrong = _import(client, _renamed(child_record, id=str(uuid.uuid4()), parent_id=stranger))
    assert wrong.status_code == 400
    assert "written against" in wrong.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before

    # Renamed onto the parent's import, the chain is the imports' own.
    response = _import(client, _renamed(child_record, id=new_child, parent_id=new_root))
    assert response.status_code == 201, response.text
    session.expire_all()
    child, parent = session.get(Backup, new_child), session.get(Backup, new_root)
    assert child is not None and parent is not None
    assert (child.parent_id, child.data_id) == (new_root, chain[1].id)
    assert parent.num_dependent_backups == 1
    shown = client.get(f"{BACKUPS}/{new_child}", headers=headers(ADMIN)).json()["backup"]
    assert shown["is_incremental"] is True


def test_import_refused_while_its_data_is_being_deleted(
    client: TestClient, session: Session, chain: list[Backup], app: FastAPI
) -> None:
    record = _export(client, chain[1].id)
    catalog.begin_backup_delete(session=session, backup_id=chain[1].id, project_id=PROJECT)
    before = catalog_rows(app.state.engine)
    response = _import(client, _renamed(record, id=str(uuid.uuid4())))
    assert response.status_code == 400
    assert "is being deleted" in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def test_import_needs_the_parent_in_the_importing_project(
    client: TestClient, session: Session, chain: list[Backup], app: FastAPI
) -> None:
    child_record = _export(client, chain[1].id)
    before = catalog_rows(app.state.engine)
    response = client.post(
        f"/v3/{OTHER_PROJECT}/backups/import_record",
        json={"backup-record": _renamed(child_record, id=str(uuid.uuid4()))},
        headers=headers(ADMIN, OTHER_PROJECT),
    )
    assert response.status_code == 400
    assert "import the parent first" in response.json()["badRequest"]["message"]
    assert catalog_rows(app.state.engine) == before


def test_garbage_collection_starts_a_run_for_admins_only(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    url = f"/v1/{PROJECT}/store/garbage"
    assert client.post(url, headers=headers(USER)).status_code == 403
    first = client.post(url, headers=headers(ADMIN))
    assert first.status_code == 202
    sub = launcher.submissions[-1]
    assert (sub.deployment, sub.parameters) == (
        "collect-garbage/safehold",
        {"grace_hours": 24.0, "dry_run": False},
    )
    assert first.json() == {"garbage": {"flow_run_id": sub.flow_run_id}}
    dry = client.post(url, json={"dry_run": True, "grace_hours": 1}, headers=headers(ADMIN))
    assert dry.status_code == 202
    assert launcher.submissions[-1].parameters == {"grace_hours": 1.0, "dry_run": True}
    bad = client.post(url, json={"grace_hours": -1}, headers=headers(ADMIN))
    assert bad.status_code == 400
    assert "/v1/{project_id}/store/garbage" in client.get("/openapi.json").json()["paths"]
