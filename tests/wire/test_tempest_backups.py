"""tempest.lib's volume clients against the served API: every response meets tempest's schemas.

Each case sets tempest's VOLUME_MICROVERSION as a tempest test class does (None sends no
header and selects the base schemas; a version makes tempest also check the echoed
OpenStack-API-Version header), on the v3 tree and on v2 (tempest's v2 clients are its
v3 clients at another base URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlmodel import Session
from tempest.lib import exceptions as lib_exc

from api.launcher import RecordingLauncher
from storage import catalog
from storage.objects import open_store_from_settings
from tests.storage.catalog import stored
from tests.wire.tempest_clients import ADMIN, PROJECT, VolumeClients, microversion, volume_clients

CASES = [
    ("v3", None),
    ("v3", "3.9"),
    ("v3", "3.43"),
    ("v3", "3.64"),
    ("v3", "3.71"),
    ("v2", None),
]


@pytest.fixture(params=CASES, ids=[f"{tree}-{mv or 'base'}" for tree, mv in CASES])
def case(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    """(tree, microversion), with tempest's module-level microversion set for the test."""
    tree, mv = request.param
    with microversion(mv):
        yield tree, mv


def _at_least(mv: str | None, since: tuple[int, int]) -> bool:
    if mv is None:
        return False
    major, minor = mv.split(".")
    return (int(major), int(minor)) >= since


def _available_volume(clients: VolumeClients, session: Session, name: str) -> str:
    volume = clients.volumes.create_volume(size=1, name=name)["volume"]
    # The create-volume flow's last step, done here: no flows run in wire tests.
    assert catalog.finish_volume_setup(session=session, volume_id=volume["id"], size_bytes=1)
    return str(volume["id"])


def _available_backup(clients: VolumeClients, session: Session, volume_id: str, **kw: str) -> str:
    backup = clients.backups.create_backup(volume_id=volume_id, **kw)["backup"]
    # The create-backup flow's last step.
    assert catalog.finish_backup(
        session=session, backup_id=backup["id"], object_count=1, stored_bytes=1
    )
    return str(backup["id"])


def test_versions(base_url: str, case: tuple[str, str | None]) -> None:
    tree, _ = case
    versions = volume_clients(base_url, tree=tree).versions
    listed = versions.list_versions()["versions"]
    assert [v["id"] for v in listed] == ["v3.0", "v2.0"]
    assert versions.show_version("v3")["versions"][0]["id"] == "v3.0"
    assert versions.show_version("v2")["versions"][0]["id"] == "v2.0"


def test_volumes(base_url: str, session: Session, case: tuple[str, str | None]) -> None:
    tree, _ = case
    volumes = volume_clients(base_url, tree=tree).volumes
    volume_id = _available_volume(volume_clients(base_url, tree=tree), session, "wire-vol")
    shown = volumes.show_volume(volume_id)["volume"]
    assert (shown["status"], shown["links"][0]["href"].split("/")[3]) == ("available", tree)
    assert [v["id"] for v in volumes.list_volumes()["volumes"]] == [volume_id]
    assert [v["id"] for v in volumes.list_volumes(detail=True)["volumes"]] == [volume_id]
    admin = volume_clients(base_url, tree=tree, user=ADMIN).volumes
    assert admin.show_volume(volume_id)["volume"]["os-vol-tenant-attr:tenant_id"] == PROJECT


def test_backup_lifecycle(base_url: str, session: Session, case: tuple[str, str | None]) -> None:
    tree, mv = case
    clients = volume_clients(base_url, tree=tree)
    volume_id = _available_volume(clients, session, "wire-vol")
    extra = {"metadata": {"tier": "gold"}} if _at_least(mv, (3, 43)) else {}
    created = clients.backups.create_backup(volume_id=volume_id, name="wire", **extra)["backup"]
    backup_id = created["id"]
    assert clients.backups.show_backup(backup_id)["backup"]["status"] == "creating"
    assert catalog.finish_backup(
        session=session, backup_id=backup_id, object_count=2, stored_bytes=9
    )

    shown = clients.backups.show_backup(backup_id)["backup"]
    assert (shown["status"], shown["volume_id"], shown["object_count"]) == (
        "available",
        volume_id,
        2,
    )
    assert shown.get("metadata") == extra.get("metadata", shown.get("metadata"))
    assert [b["id"] for b in clients.backups.list_backups()["backups"]] == [backup_id]
    detail = clients.backups.list_backups(detail=True, name="wire")["backups"]
    assert [b["id"] for b in detail] == [backup_id]
    assert clients.backups.list_backups(detail=True, status="error")["backups"] == []

    if _at_least(mv, (3, 9)):
        renamed = clients.backups.update_backup(backup_id, name="renamed", description="d")
        assert renamed["backup"]["name"] == "renamed"
    else:
        with pytest.raises(lib_exc.NotFound):
            clients.backups.update_backup(backup_id, name="renamed")

    restore = clients.backups.restore_backup(backup_id, name="restored")["restore"]
    assert (restore["backup_id"], restore["volume_name"]) == (backup_id, "restored")
    assert clients.backups.show_backup(backup_id)["backup"]["status"] == "restoring"
    assert catalog.finish_restore(session=session, backup_id=backup_id)  # the flow's last step
    clients.volumes.show_volume(restore["volume_id"])

    clients.backups.delete_backup(backup_id)
    assert clients.backups.show_backup(backup_id)["backup"]["status"] == "deleting"
    catalog.finish_backup_delete(session=session, backup_id=backup_id)
    assert clients.backups.is_resource_deleted(backup_id)


def test_admin_actions(
    base_url: str, session: Session, launcher: RecordingLauncher, case: tuple[str, str | None]
) -> None:
    tree, _ = case
    clients = volume_clients(base_url, tree=tree)
    admin = volume_clients(base_url, tree=tree, user=ADMIN)
    volume_id = _available_volume(clients, session, "wire-vol")
    backup_id = _available_backup(clients, session, volume_id, name="wire")

    with pytest.raises(lib_exc.Forbidden):
        clients.backups.reset_backup_status(backup_id, "error")
    admin.backups.reset_backup_status(backup_id, "error")
    assert clients.backups.show_backup(backup_id)["backup"]["status"] == "error"
    with pytest.raises(lib_exc.BadRequest):  # no committed data in the store for it
        admin.backups.reset_backup_status(backup_id, "available")
    with pytest.raises(lib_exc.BadRequest):
        admin.backups.reset_backup_status(backup_id, "deleting")

    # tempest has no force-delete call: post the action with its client and its checks.
    creating = clients.backups.create_backup(volume_id=volume_id)["backup"]["id"]
    run_id = catalog.get_backup(session=session, backup_id=creating).flow_run_id
    launcher.set_state(run_id or "", "CRASHED")  # a live create run would make it 400
    resp, body = admin.backups.post(f"backups/{creating}/action", '{"os-force_delete": {}}')
    admin.backups.validate_response({"status_code": [202]}, resp, body)
    assert body == b""
    assert clients.backups.show_backup(creating)["backup"]["status"] == "deleting"
    # The dead create run's hold on the volume was released.
    assert clients.volumes.show_volume(volume_id)["volume"]["status"] == "available"


def test_export_and_import_record(
    base_url: str, app: FastAPI, session: Session, case: tuple[str, str | None]
) -> None:
    # Data really in the store (import reads the manifest), as the records tests make it.
    tree, _ = case
    clients = volume_clients(base_url, tree=tree)
    admin = volume_clients(base_url, tree=tree, user=ADMIN)
    volume_id = _available_volume(clients, session, "wire-vol")
    volume = catalog.get_volume(session=session, volume_id=volume_id)
    source = stored.volume_file(Path(volume.path), seed=3)
    store = open_store_from_settings(app.state.settings)
    backup, _ = stored.stored_backup(
        session, store, project=PROJECT, volume_id=volume_id, source=source
    )

    record = admin.backups.export_backup(backup.id)["backup-record"]
    with pytest.raises(lib_exc.BadRequest):  # the backup still exists
        admin.backups.import_backup(**record)
    catalog.finish_backup_delete(session=session, backup_id=backup.id)  # forget the row only
    imported = admin.backups.import_backup(**record)["backup"]
    assert imported["id"] == backup.id
    assert clients.backups.show_backup(backup.id)["backup"]["status"] == "available"
