"""Volume attach/detach (os-attach, os-detach) and backups of attached volumes, via HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from storage import catalog
from storage.settings import Settings

from .helpers import (
    ADMIN,
    BACKUPS,
    MISSING,
    OTHER_PROJECT,
    USER,
    VOLUMES,
    every_row,
    headers,
    make_volume,
)

SERVER = "5f0f5b1c-1b2f-4bd5-9f4b-0e6d2a7c9d11"


# -- attach / detach --------------------------------------------------------------------


def _action(client: TestClient, volume_id: str, body: dict[str, Any], user: str = USER) -> Any:
    return client.post(f"{VOLUMES}/{volume_id}/action", json=body, headers=headers(user=user))


def test_attach_makes_a_volume_in_use_and_shows_the_attachment(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    # What cinderclient's volumes.attach(volume, instance_uuid, mountpoint) sends.
    body = {"os-attach": {"mountpoint": "/dev/vdb", "mode": "rw", "instance_uuid": SERVER}}
    response = _action(client, volume.id, body)
    assert (response.status_code, response.content) == (202, b"")
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert shown["status"] == "in-use"
    (attachment,) = shown["attachments"]
    assert set(attachment) == {
        "attached_at",
        "attachment_id",
        "device",
        "host_name",
        "id",
        "server_id",
        "volume_id",
    }
    assert (attachment["server_id"], attachment["device"], attachment["volume_id"]) == (
        SERVER,
        "/dev/vdb",
        volume.id,
    )
    assert attachment["id"] == volume.id and attachment["host_name"] is None
    detailed = client.get(f"{VOLUMES}/detail", headers=headers()).json()["volumes"]
    assert detailed[0]["attachments"] == [attachment]

    before = every_row(app.state.engine)
    assert _action(client, volume.id, body).status_code == 400  # already in-use
    assert client.delete(f"{VOLUMES}/{volume.id}", headers=headers()).status_code == 400
    wrong = {"os-detach": {"attachment_id": MISSING}}
    assert _action(client, volume.id, wrong).status_code == 404
    assert every_row(app.state.engine) == before

    detached = _action(client, volume.id, {"os-detach": {"attachment_id": None}})
    assert detached.status_code == 202
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert (shown["status"], shown["attachments"]) == ("available", [])
    assert _action(client, volume.id, {"os-detach": {}}).status_code == 400


def test_host_attachment_shows_the_host_to_admins_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    body = {"os-attach": {"mountpoint": "/mnt/a", "host_name": "node-1"}}
    assert _action(client, volume.id, body).status_code == 202
    user_view = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    admin_view = client.get(f"{VOLUMES}/{volume.id}", headers=headers(user=ADMIN)).json()["volume"]
    assert user_view["attachments"][0]["host_name"] is None
    assert admin_view["attachments"][0]["host_name"] == "node-1"
    assert admin_view["attachments"][0]["server_id"] is None


@pytest.mark.parametrize(
    "value",
    [
        {"mountpoint": "/dev/vdb"},  # no target
        {"instance_uuid": SERVER},  # no mountpoint
        {"instance_uuid": "not-a-uuid", "mountpoint": "/dev/vdb"},
        {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "rx"},
        {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "extra": 1},
    ],
)
def test_bad_attach_changes_nothing(
    client: TestClient, app: FastAPI, session: Session, settings: Settings, value: dict[str, Any]
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    before = every_row(app.state.engine)
    assert _action(client, volume.id, {"os-attach": value}).status_code == 400
    assert every_row(app.state.engine) == before


def test_attach_of_another_projects_volume_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    body = {"os-attach": {"mountpoint": "/dev/vdb", "instance_uuid": SERVER}}
    assert _action(client, volume.id, body).status_code == 404


def test_admin_reset_to_detached_forgets_attachments(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    _action(client, volume.id, {"os-attach": {"mountpoint": "/m", "instance_uuid": SERVER}})
    reset = {"os-reset_status": {"status": "available", "attach_status": "detached"}}
    assert _action(client, volume.id, reset, user=ADMIN).status_code == 202
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert (shown["status"], shown["attachments"]) == ("available", [])


def test_backup_of_an_in_use_volume_needs_force(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    _action(client, volume.id, {"os-attach": {"mountpoint": "/m", "instance_uuid": SERVER}})
    body: dict[str, Any] = {"backup": {"volume_id": volume.id}}
    before = every_row(app.state.engine)
    assert client.post(BACKUPS, json=body, headers=headers()).status_code == 400
    assert every_row(app.state.engine) == before
    body["backup"]["force"] = True
    assert client.post(BACKUPS, json=body, headers=headers()).status_code == 202
    with Session(app.state.engine) as db:
        vol = catalog.get_volume(session=db, volume_id=volume.id)
    assert (vol.status, vol.previous_status) == ("backing-up", "in-use")
    # Still attached while it is backed up.
    shown = client.get(f"{VOLUMES}/{volume.id}", headers=headers()).json()["volume"]
    assert len(shown["attachments"]) == 1
