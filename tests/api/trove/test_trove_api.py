"""The Trove v1.0 routes with a RecordingLauncher: bodies, faults, isolation, the runs
each call starts, and the catalog transitions behind them (flows are not run here)."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage.catalog import DbBackup, DbBackupStatus, DbInstance, InstanceStatus, db_instances
from storage.catalog.cas import compare_and_set

PROJECT = "6c1f0e2d3b4a59687766554433221100"
OTHER = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
MISSING = "3b7c1d9e-0a2f-4c6b-8d5e-7f9a1b3c5d7e"


def h(user: str = "alice", project: str = PROJECT) -> dict[str, str]:
    return {"X-Auth-Token": f"{user}:{project}"}


def url(path: str, project: str = PROJECT) -> str:
    return f"/v1.0/{project}/{path}"


def _instance(client: TestClient, name: str = "db1", **extra: Any) -> dict[str, Any]:
    body = {"instance": {"name": name, "flavorRef": "1", "volume": {"size": 1}, **extra}}
    resp = client.post(url("instances"), json=body, headers=h())
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["instance"])


def _set(session: Session, model: Any, record_id: str, status: str, **values: Any) -> None:
    row = session.get(model, record_id)
    assert row is not None
    assert compare_and_set(session, model, record_id, to=status, expected={row.status}, **values)
    session.commit()


def _active(client: TestClient, session: Session, name: str = "db1") -> dict[str, Any]:
    instance = _instance(client, name)
    assert db_instances.finish_build(session=session, instance_id=instance["id"], used_bytes=8192)
    return instance


def _backup(client: TestClient, instance_id: str, **extra: Any) -> Any:
    body = {"backup": {"name": "b", "instance": instance_id, **extra}}
    return client.post(url("backups"), json=body, headers=h())


def test_version_document_lists_v1_0(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    (entry,) = resp.json()["versions"]
    assert entry["id"] == "v1.0" and entry["status"] == "CURRENT"
    assert entry["links"] == [{"href": "http://testserver/v1.0/", "rel": "self"}]


def test_sqlite_is_served_out_of_the_box_with_its_real_version(client: TestClient) -> None:
    stores = client.get(url("datastores"), headers=h()).json()["datastores"]
    assert [s["name"] for s in stores] == ["sqlite"]
    versions = client.get(url("datastores/sqlite/versions"), headers=h()).json()["versions"]
    assert [v["name"] for v in versions] == [sqlite3.sqlite_version]
    assert client.get(url("datastores/oracle/versions"), headers=h()).status_code == 404


def test_create_instance_starts_its_flow_and_shows_build(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    instance = _instance(client, databases=[{"name": "shop"}])
    assert instance["status"] == "BUILD"
    assert instance["datastore"] == {"type": "sqlite", "version": sqlite3.sqlite_version}
    assert instance["volume"]["size"] == 1
    (run,) = launcher.submissions
    assert run.deployment == "create-db-instance/safehold"
    assert run.parameters == {"instance_id": instance["id"]}
    dbs = client.get(url(f"instances/{instance['id']}/databases"), headers=h()).json()
    assert dbs == {"databases": [{"name": "shop"}]}
    listed = client.get(url("instances"), headers=h()).json()["instances"]
    assert [i["id"] for i in listed] == [instance["id"]]


def test_bad_instance_requests_are_refused_and_change_nothing(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    def post(body: dict[str, Any]) -> int:
        return client.post(url("instances"), json={"instance": body}, headers=h()).status_code

    assert post({"name": "x", "databases": [{"name": "a"}, {"name": "b"}]}) == 400
    assert post({"name": "x", "databases": [{"name": "bad; drop"}]}) == 400
    assert post({"name": "x", "datastore": {"type": "oracle"}}) == 404
    assert post({"name": "x", "datastore": {"type": "sqlite", "version": "1.0"}}) == 404
    assert post({"name": "x", "restorePoint": {"backupRef": MISSING}}) == 404
    assert post({"name": ""}) == 400
    assert launcher.submissions == []
    assert db_instances.list_instances(session=session, project_id=None) == []


def test_a_database_name_already_used_is_refused(client: TestClient) -> None:
    _instance(client, databases=[{"name": "shop"}])
    body = {"instance": {"name": "again", "databases": [{"name": "shop"}]}}
    assert client.post(url("instances"), json=body, headers=h()).status_code == 400


def test_another_projects_instance_is_not_found(client: TestClient) -> None:
    instance = _instance(client)
    for path in (f"instances/{instance['id']}", f"instances/{instance['id']}/backups"):
        assert client.get(url(path, OTHER), headers=h("bob", OTHER)).status_code == 404
    assert (
        client.delete(
            url(f"instances/{instance['id']}", OTHER), headers=h("bob", OTHER)
        ).status_code
        == 404
    )
    assert client.get(url("instances", OTHER), headers=h("bob", OTHER)).json() == {"instances": []}


def test_backup_holds_the_instance_and_a_second_one_waits(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    instance = _active(client, session)
    resp = _backup(client, instance["id"], description="nightly")
    assert resp.status_code == 202
    backup = resp.json()["backup"]
    assert backup["status"] == "NEW" and backup["locationRef"] is None and backup["size"] is None
    assert backup["instance_id"] == instance["id"] and backup["parent_id"] is None
    assert backup["datastore"]["type"] == "sqlite"
    assert launcher.submissions[-1].deployment == "create-db-backup/safehold"
    assert launcher.submissions[-1].parameters == {"backup_id": backup["id"]}
    shown = client.get(url(f"instances/{instance['id']}"), headers=h()).json()["instance"]
    assert shown["status"] == "BACKUP"
    assert _backup(client, instance["id"]).status_code == 422
    assert client.delete(url(f"instances/{instance['id']}"), headers=h()).status_code == 422


def test_backup_requests_with_no_or_unknown_instance(client: TestClient) -> None:
    resp = client.post(url("backups"), json={"backup": {"name": "b"}}, headers=h())
    assert resp.status_code == 400 and "badRequest" in resp.json()
    assert _backup(client, MISSING).status_code == 404
    resp = client.post(url("backups"), json={"backup": {"instance": MISSING}}, headers=h())
    assert resp.status_code == 400  # no name


def test_incremental_chains_onto_the_newest_completed_backup(
    client: TestClient, session: Session
) -> None:
    instance = _active(client, session)
    first = _backup(client, instance["id"]).json()["backup"]
    _set(session, DbBackup, first["id"], DbBackupStatus.COMPLETED, size_bytes=3 * 1024**2)
    _set(session, DbInstance, instance["id"], InstanceStatus.ACTIVE)
    second = _backup(client, instance["id"], incremental=1).json()["backup"]
    assert second["parent_id"] == first["id"]
    shown = client.get(url(f"backups/{first['id']}"), headers=h()).json()["backup"]
    assert shown["status"] == "COMPLETED" and shown["size"] == 3 / 1024
    assert shown["locationRef"].endswith(f"/databases/{instance['id']}/manifests/{first['id']}")
    # A parent named explicitly must be restorable and of this instance.
    _set(session, DbBackup, second["id"], DbBackupStatus.FAILED)
    _set(session, DbInstance, instance["id"], InstanceStatus.ACTIVE)
    assert _backup(client, instance["id"], parent_id=second["id"]).status_code == 404


def test_list_filters_and_pages_with_next_links(client: TestClient, session: Session) -> None:
    ids = []
    for name in ("a", "b", "c"):
        instance = _active(client, session, name)
        ids.append(_backup(client, instance["id"]).json()["backup"]["id"])
    listed = client.get(url("backups"), headers=h()).json()["backups"]
    assert [b["id"] for b in listed] == ids[::-1]
    page = client.get(url("backups?limit=2"), headers=h()).json()
    assert [b["id"] for b in page["backups"]] == ids[:0:-1]
    (link,) = page["links"]
    assert link["rel"] == "next" and f"marker={ids[1]}" in link["href"]
    rest = client.get(url(f"backups?limit=2&marker={ids[1]}"), headers=h()).json()
    assert [b["id"] for b in rest["backups"]] == [ids[0]] and "links" not in rest
    one = client.get(url(f"backups?instance_id={listed[0]['instance_id']}"), headers=h()).json()
    assert [b["id"] for b in one["backups"]] == [ids[2]]
    assert client.get(url("backups?datastore=mysql"), headers=h()).json()["backups"] == []
    assert client.get(url("backups", OTHER), headers=h("bob", OTHER)).json()["backups"] == []
    everyone = client.get(url("backups?all_projects=1", OTHER), headers=h("admin", OTHER))
    assert len(everyone.json()["backups"]) == 3


def test_delete_cascades_to_descendants_in_one_run(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    instance = _active(client, session)
    chain: list[str] = []
    for _ in range(3):
        extra = {"incremental": True} if chain else {}
        backup = _backup(client, instance["id"], **extra).json()["backup"]
        if chain:
            assert backup["parent_id"] == chain[-1]
        chain.append(backup["id"])
        if len(chain) < 3:
            _set(session, DbBackup, backup["id"], DbBackupStatus.COMPLETED)
            _set(session, DbInstance, instance["id"], InstanceStatus.ACTIVE)
    # The newest is still NEW: deleting its ancestor is refused (Trove's 422), nothing moves.
    assert client.delete(url(f"backups/{chain[0]}"), headers=h()).status_code == 422
    assert session.get(DbBackup, chain[0]).status == DbBackupStatus.COMPLETED  # type: ignore[union-attr]
    _set(session, DbBackup, chain[2], DbBackupStatus.COMPLETED)
    before = len(launcher.submissions)
    assert client.delete(url(f"backups/{chain[0]}"), headers=h()).status_code == 202
    (run,) = launcher.submissions[before:]
    assert run.deployment == "delete-db-backup-tree/safehold"
    assert run.parameters == {"backup_id": chain[0]}
    session.expire_all()
    assert {session.get(DbBackup, b).status for b in chain} == {"DELETING"}  # type: ignore[union-attr]
    assert (
        client.delete(url(f"backups/{chain[0]}", OTHER), headers=h("bob", OTHER)).status_code == 404
    )


def test_restore_from_refuses_locations_outside_the_store(client: TestClient) -> None:
    def register(location: Any) -> int:
        body = {"backup": {"name": "r", "restore_from": {"remote_location": location}}}
        return client.post(url("backups"), json=body, headers=h()).status_code

    assert register("http://elsewhere/v1/AUTH_x/database_backups/a.xbstream") == 400
    assert register(None) == 400
    base = f"file://{client.app.state.settings.data_path / 'backups'}/databases"  # type: ignore[attr-defined]
    assert register(f"{base}/{MISSING}/packs/{MISSING}") == 400
    assert register(f"{base}/../{MISSING}/manifests/{MISSING}") == 400
    assert register(f"{base}/{MISSING}/manifests/{MISSING}") == 404  # nothing stored there


def test_manage_registers_an_existing_database_for_admins_only(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    settings.databases_dir.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(settings.databases_dir / "legacy.sqlite3").close()

    def manage(user: str, database: str) -> Any:
        body = {"instance": {"name": "legacy", "database": database}}
        return client.post(url("instances/manage"), json=body, headers=h(user))

    assert manage("alice", "legacy").status_code == 403
    assert manage("admin", "absent").status_code == 404
    assert manage("admin", "bad name").status_code == 400
    assert launcher.submissions == []
    resp = manage("admin", "legacy")
    assert resp.status_code == 200
    instance = resp.json()["instance"]
    assert instance["status"] == "BUILD"
    assert launcher.submissions[-1].deployment == "create-db-instance/safehold"
    row = session.get(DbInstance, instance["id"])
    assert row is not None and row.managed and row.database == "legacy"
    assert manage("admin", "legacy").status_code == 400  # held by an instance already
