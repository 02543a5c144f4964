"""os-update_snapshot_status and the snapshot list filters metadata, consumes_quota and
availability_zone, via HTTP (Cinder's snapshot_actions and resource filters)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.launcher import RecordingLauncher
from storage import catalog
from storage.settings import Settings

from .helpers import (
    ADMIN,
    MISSING,
    OTHER_PROJECT,
    SNAPSHOTS,
    every_row,
    headers,
    make_snapshot,
    make_volume,
    snapshot_row,
)


def _update(
    client: TestClient, snapshot_id: str, value: Any, user: str = "alice"
) -> tuple[int, dict[str, Any] | None]:
    response = client.post(
        f"{SNAPSHOTS}/{snapshot_id}/action",
        json={"os-update_snapshot_status": value},
        headers=headers(user=user),
    )
    return response.status_code, (response.json() if response.content else None)


def _creating(client: TestClient, session: Session, settings: Settings) -> str:
    """A snapshot made through the API, its create-snapshot run still live (scheduled)."""
    volume = make_volume(session, settings.volumes_dir)
    response = client.post(
        SNAPSHOTS, json={"snapshot": {"volume_id": volume.id}}, headers=headers()
    )
    assert response.status_code == 202
    return str(response.json()["snapshot"]["id"])


def _run_completed(app: FastAPI, launcher: RecordingLauncher, snapshot_id: str) -> None:
    launcher.set_state(snapshot_row(app.state.engine, snapshot_id).flow_run_id or "", "COMPLETED")


# -- os-update_snapshot_status ----------------------------------------------------------


def test_tempest_scenario_reset_to_creating_then_report_error(
    client: TestClient,
    app: FastAPI,
    session: Session,
    launcher: RecordingLauncher,
    settings: Settings,
) -> None:
    # tempest's test_update_snapshot_status: an admin resets an available snapshot to
    # creating, then its owner reports error with a progress.
    snapshot_id = _creating(client, session, settings)
    assert catalog.finish_snapshot(session=session, snapshot_id=snapshot_id)
    _run_completed(app, launcher, snapshot_id)
    reset = {"os-reset_status": {"status": "creating"}}
    action = f"{SNAPSHOTS}/{snapshot_id}/action"
    assert client.post(action, json=reset, headers=headers(user=ADMIN)).status_code == 202
    assert _update(client, snapshot_id, {"status": "error", "progress": "80%"}) == (202, None)
    shown = client.get(f"{SNAPSHOTS}/{snapshot_id}", headers=headers()).json()["snapshot"]
    assert (shown["status"], shown["os-extended-snapshot-attributes:progress"]) == (
        "error",
        "80%",
    )


def test_creating_to_available_once_no_run_works_on_it(
    client: TestClient,
    app: FastAPI,
    session: Session,
    launcher: RecordingLauncher,
    settings: Settings,
) -> None:
    snapshot_id = _creating(client, session, settings)
    _run_completed(app, launcher, snapshot_id)
    assert _update(client, snapshot_id, {"status": "available"}) == (202, None)
    assert snapshot_row(app.state.engine, snapshot_id).status == "available"


def test_a_live_create_run_keeps_the_status(
    client: TestClient, app: FastAPI, session: Session, settings: Settings
) -> None:
    snapshot_id = _creating(client, session, settings)  # its run is scheduled: live
    before = every_row(app.state.engine)
    status, body = _update(client, snapshot_id, {"status": "available", "progress": "100%"})
    assert status == 400 and body is not None
    assert "its own flow run is still working on it" in body["badRequest"]["message"]
    assert every_row(app.state.engine) == before
    assert _update(client, snapshot_id, {"status": "creating", "progress": "40%"}) == (202, None)
    row = snapshot_row(app.state.engine, snapshot_id)
    assert (row.status, row.progress) == ("creating", "40%")


def test_a_crashed_run_is_settled_first(
    client: TestClient,
    app: FastAPI,
    session: Session,
    launcher: RecordingLauncher,
    settings: Settings,
) -> None:
    snapshot_id = _creating(client, session, settings)
    launcher.set_state(snapshot_row(app.state.engine, snapshot_id).flow_run_id or "", "CRASHED")
    status, body = _update(client, snapshot_id, {"status": "available"})
    assert status == 400 and body is not None
    assert body["badRequest"]["message"] == (
        "Snapshot status error not allowed for update_snapshot_status"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"status": "deleting"}, "Provided snapshot status deleting not allowed"),
        ({"status": "available"}, None),
        ({"status": "error", "progress": "80"}, "progress must be an integer percentage"),
        ({"status": "error", "progress": "101%"}, "between 0 and 100"),
        ({"status": "error", "progress": "x%"}, "progress must be an integer percentage"),
        ({"status": "error", "progress": 80}, None),
        ({"progress": "80%"}, None),
        ({"status": "error", "bogus": 1}, "Additional properties are not allowed"),
        ({"status": 1}, None),
        (None, None),
    ],
)
def test_bad_updates_are_400_and_change_nothing(
    client: TestClient,
    app: FastAPI,
    session: Session,
    launcher: RecordingLauncher,
    settings: Settings,
    value: Any,
    message: str | None,
) -> None:
    snapshot_id = _creating(client, session, settings)
    _run_completed(app, launcher, snapshot_id)
    if value == {"status": "available"}:  # from a status outside Cinder's table
        assert catalog.finish_snapshot(session=session, snapshot_id=snapshot_id)
        message = "Snapshot status available not allowed for update_snapshot_status"
    before = every_row(app.state.engine)
    status, body = _update(client, snapshot_id, value)
    assert status == 400 and body is not None
    if message is not None:
        assert message in body["badRequest"]["message"]
    assert every_row(app.state.engine) == before


def test_owner_or_admin_only(
    client: TestClient,
    app: FastAPI,
    session: Session,
    launcher: RecordingLauncher,
    settings: Settings,
) -> None:
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    theirs = catalog.begin_snapshot(
        session=session,
        project_id=OTHER_PROJECT,
        user_id="bob",
        volume_id=volume.id,
        snapshots_dir=settings.snapshots_dir,
    )
    value = {"status": "error"}
    assert _update(client, theirs.id, value)[0] == 404
    assert _update(client, MISSING, value)[0] == 404
    # An admin's context sees every project's snapshot (no run id recorded: live).
    assert _update(client, theirs.id, {"status": "creating", "progress": "5%"}, ADMIN) == (
        202,
        None,
    )
    assert snapshot_row(app.state.engine, theirs.id).progress == "5%"


def test_deleting_to_error_deleting(
    client: TestClient,
    app: FastAPI,
    session: Session,
    launcher: RecordingLauncher,
    settings: Settings,
) -> None:
    snapshot = make_snapshot(session, make_volume(session, settings.volumes_dir))
    assert client.delete(f"{SNAPSHOTS}/{snapshot.id}", headers=headers()).status_code == 202
    assert _update(client, snapshot.id, {"status": "error_deleting"})[0] == 400  # run live
    launcher.set_state(snapshot_row(app.state.engine, snapshot.id).flow_run_id or "", "COMPLETED")
    assert _update(client, snapshot.id, {"status": "error_deleting"}) == (202, None)
    assert snapshot_row(app.state.engine, snapshot.id).status == "error_deleting"


# -- list filters -----------------------------------------------------------------------


def _names(client: TestClient, query: str, mv: str | None = "3.65", user: str = "alice") -> Any:
    response = client.get(f"{SNAPSHOTS}?{query}", headers=headers(user=user, mv=mv))
    if response.status_code != 200:
        return response.status_code
    return sorted(s["name"] for s in response.json()["snapshots"])


def test_metadata_filter(client: TestClient, session: Session, settings: Settings) -> None:
    volume = make_volume(session, settings.volumes_dir)
    make_snapshot(session, volume, name="gold", metadata={"tier": "gold", "k": "v"})
    make_snapshot(session, volume, name="silver", metadata={"tier": "silver"})
    # python-cinderclient sends str(dict); JSON reads the same.
    assert _names(client, "metadata={'tier': 'gold'}") == ["gold"]
    assert _names(client, 'metadata={"tier": "silver"}') == ["silver"]
    assert _names(client, "metadata={'tier': 'gold', 'k': 'w'}") == []
    assert _names(client, "metadata=tier") == []  # not a dict: matches nothing (Cinder)
    assert _names(client, "metadata={'tier': 'gold'}", mv="3.22") == ["gold"]
    # Before 3.22 the filter is dropped, for admins too.
    assert _names(client, "metadata={'tier': 'gold'}", mv="3.21") == ["gold", "silver"]
    assert _names(client, "metadata={'tier': 'gold'}", mv="3.21", user=ADMIN) == [
        "gold",
        "silver",
    ]


def test_consumes_quota_filter(client: TestClient, session: Session, settings: Settings) -> None:
    volume = make_volume(session, settings.volumes_dir)
    make_snapshot(session, volume, name="s")
    assert _names(client, "consumes_quota=true") == ["s"]
    assert _names(client, "consumes_quota=False") == []
    assert _names(client, "consumes_quota=maybe") == 400
    # Cinder's resource-filter check takes it from 3.31; before, it is dropped.
    assert _names(client, "consumes_quota=false", mv="3.31") == []
    assert _names(client, "consumes_quota=false", mv="3.30") == ["s"]
    detail = client.get(
        f"{SNAPSHOTS}/detail?consumes_quota=true&with_count=true", headers=headers(mv="3.65")
    )
    assert detail.json()["count"] == 1


def test_availability_zone_filter(client: TestClient, session: Session, settings: Settings) -> None:
    volume = make_volume(session, settings.volumes_dir)
    make_snapshot(session, volume, name="s")
    assert _names(client, "availability_zone=nova") == ["s"]
    assert _names(client, "availability_zone=elsewhere") == []
    assert _names(client, "availability_zone=nova&bogus=1") == 400  # still refused from 3.31
