"""The policies API (`/v1/{project_id}/policies`) against a RecordingLauncher: the
catalog row and the Prefect schedule move together, Prefect's pause flag wins on read,
and bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.launcher import RecordingLauncher
from api.schedules import slug_of
from storage.catalog import Backup, BackupStatus, utcnow
from storage.catalog.policy_models import Policy
from storage.settings import Settings
from tests.api.helpers import ADMIN, MISSING, OTHER_PROJECT, PROJECT, headers, make_volume

POLICIES = f"/v1/{PROJECT}/policies"


def body(**over: Any) -> dict[str, Any]:
    """A valid create body for a one-minute volume policy, with overrides."""
    policy: dict[str, Any] = {
        "name": "nightly",
        "targets": {"kind": "volume"},
        "schedule": {"cron": "* * * * *", "timezone": "Europe/Paris"},
        "retention": {"keep_last": 2},
    }
    policy.update(over)
    return {"policy": policy}


def create(client: TestClient, **over: Any) -> dict[str, Any]:
    resp = client.post(POLICIES, json=body(**over), headers=headers())
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()["policy"]
    return created


def policy_rows(session: Session) -> list[Policy]:
    session.expire_all()
    return list(session.exec(select(Policy)))


def test_create_makes_the_row_and_an_active_schedule_with_parameters(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client, mode={"full_every_runs": 7}, start_window_seconds=120)
    slug = slug_of(policy["id"])
    spec, params = launcher.schedules.specs[slug]
    assert params == {"policy_id": policy["id"]}
    assert (spec.cron, spec.timezone, spec.interval_seconds) == ("* * * * *", "Europe/Paris", None)
    assert launcher.schedules.states[slug].active
    assert policy["schedule_id"] == launcher.schedules.states[slug].id
    assert policy["status"] == "active"
    assert policy["mode"] == {"full_every_runs": 7, "full_every_days": None}
    assert policy["start_window_seconds"] == 120
    assert policy["retention"]["keep_last"] == 2 and policy["retention"]["floor"] == 1
    assert policy["targets"] == {"kind": "volume", "resource_id": None, "metadata": None}
    assert (policy["consecutive_failures"], policy["missed_runs"]) == (0, 0)


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"schedule": {"cron": "61 * * * *"}}, "Invalid schedule"),
        ({"schedule": {"cron": "* * * * *", "interval_seconds": 3600}}, "exactly one"),
        ({"schedule": {}}, "exactly one"),
        ({"schedule": {"interval_seconds": 5}}, "interval_seconds"),
        ({"schedule": {"cron": "* * * * *", "timezone": "Mars/Olympus"}}, "time zone"),
        ({"retention": {}}, "must keep something"),
        ({"retention": {"keep_last": 1, "floor": 0}}, "floor"),
        ({"retention": {"keep_within": "7 days"}}, "not a duration"),
        ({"targets": {"kind": "instance", "metadata": {"tier": "gold"}}}, "metadata"),
        ({"targets": {"kind": "tape"}}, "kind"),
        ({"targets": {"kind": "volume", "resource_id": "x", "metadata": {"a": "b"}}}, "not both"),
        ({"start_window_seconds": 1}, "start_window_seconds"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(
    client: TestClient,
    session: Session,
    launcher: RecordingLauncher,
    over: dict[str, Any],
    needle: str,
) -> None:
    resp = client.post(POLICIES, json=body(**over), headers=headers())
    assert resp.status_code == 400, resp.text
    assert needle in resp.json()["badRequest"]["message"]
    assert policy_rows(session) == [] and launcher.schedules.states == {}


def test_a_named_target_must_exist_in_the_project(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    foreign = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    for target in (MISSING, foreign.id):
        resp = client.post(
            POLICIES,
            json=body(targets={"kind": "volume", "resource_id": target}),
            headers=headers(),
        )
        assert resp.status_code == 404, resp.text
    mine = make_volume(session, settings.volumes_dir)
    policy = create(client, targets={"kind": "volume", "resource_id": mine.id})
    assert policy["targets"]["resource_id"] == mine.id
    assert len(policy_rows(session)) == 1


def test_prefect_unreachable_at_create_leaves_no_row(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    launcher.fail_with = "down"
    resp = client.post(POLICIES, json=body(), headers=headers())
    assert resp.status_code == 503
    assert policy_rows(session) == []


def test_another_projects_policy_is_a_404_for_every_route(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    other = headers(project=OTHER_PROJECT)
    base = f"/v1/{OTHER_PROJECT}/policies/{policy['id']}"
    for method, path, payload in [
        ("GET", base, None),
        ("PUT", base, {"policy": {"name": "x"}}),
        ("DELETE", base, None),
        ("POST", f"{base}/pause", None),
        ("POST", f"{base}/resume", None),
        ("POST", f"{base}/run", None),
        ("POST", f"{base}/retention", {"dry_run": True}),
    ]:
        resp = client.request(method, path, json=payload, headers=other)
        assert resp.status_code == 404, (method, path, resp.text)
    assert client.get(f"/v1/{OTHER_PROJECT}/policies", headers=other).json() == {"policies": []}
    assert launcher.schedules.states[slug_of(policy["id"])].active
    assert launcher.submissions == []
    # An admin sees it (as Cinder's admins see every project's resources).
    admin = client.get(f"{POLICIES}/{policy['id']}", headers=headers(user=ADMIN))
    assert admin.status_code == 200


def test_pause_and_resume_flip_prefects_flag_and_the_status(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    slug = slug_of(policy["id"])
    paused = client.post(f"{POLICIES}/{policy['id']}/pause", headers=headers()).json()["policy"]
    assert paused["status"] == "paused" and not launcher.schedules.states[slug].active
    assert paused["next_run_at"] is None
    again = client.post(f"{POLICIES}/{policy['id']}/pause", headers=headers())
    assert again.json()["policy"]["status"] == "paused"
    resumed = client.post(f"{POLICIES}/{policy['id']}/resume", headers=headers()).json()["policy"]
    assert resumed["status"] == "active" and launcher.schedules.states[slug].active
    # The schedule's parameters survive every flip (Prefect wipes omitted ones).
    assert launcher.schedules.specs[slug][1] == {"policy_id": policy["id"]}


def test_a_pause_made_in_prefect_shows_in_the_api_and_the_catalog(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    launcher.schedules.set_active(policy["id"], False)  # as the Prefect UI would
    shown = client.get(f"{POLICIES}/{policy['id']}", headers=headers()).json()["policy"]
    assert shown["status"] == "paused"
    assert policy_rows(session)[0].status == "paused"
    launcher.schedules.set_active(policy["id"], True)
    listed = client.get(POLICIES, headers=headers()).json()["policies"]
    assert [p["status"] for p in listed] == ["active"]


def test_a_schedule_deleted_in_prefect_is_recreated_from_the_catalog(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client, schedule={"interval_seconds": 3600})
    launcher.schedules.delete(policy["id"])
    shown = client.get(f"{POLICIES}/{policy['id']}", headers=headers()).json()["policy"]
    spec, params = launcher.schedules.specs[slug_of(policy["id"])]
    assert spec.interval_seconds == 3600 and params == {"policy_id": policy["id"]}
    assert shown["schedule_id"] == launcher.schedules.states[slug_of(policy["id"])].id


def test_next_run_is_what_prefect_scheduled(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    when = utcnow() + timedelta(seconds=42)
    launcher.scheduled[policy["id"]] = when
    shown = client.get(f"{POLICIES}/{policy['id']}", headers=headers()).json()["policy"]
    assert shown["next_run_at"] == when.replace(tzinfo=None).isoformat(timespec="microseconds")


def test_update_replaces_the_schedule_and_keeps_what_it_does_not_name(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client, mode={"full_every_days": 7})
    resp = client.put(
        f"{POLICIES}/{policy['id']}",
        json={"policy": {"schedule": {"interval_seconds": 900}, "description": "every 15 min"}},
        headers=headers(),
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()["policy"]
    assert updated["schedule"] == {"cron": None, "timezone": "UTC", "interval_seconds": 900}
    assert updated["description"] == "every 15 min"
    assert updated["mode"]["full_every_days"] == 7 and updated["name"] == "nightly"
    spec, params = launcher.schedules.specs[slug_of(policy["id"])]
    assert (spec.cron, spec.interval_seconds) == (None, 900)
    assert params == {"policy_id": policy["id"]}


def test_update_that_prefect_refuses_changes_nothing(
    client: TestClient, session: Session, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    before = policy_rows(session)[0].model_dump()
    launcher.fail_with = "down"
    resp = client.put(
        f"{POLICIES}/{policy['id']}", json={"policy": {"name": "renamed"}}, headers=headers()
    )
    assert resp.status_code == 503
    assert policy_rows(session)[0].model_dump() == before


def test_delete_removes_schedule_and_row_and_keeps_backups(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    volume = make_volume(session, settings.volumes_dir)
    seed_backups(session, volume.id, policy["id"], ages_hours=[1])
    resp = client.delete(f"{POLICIES}/{policy['id']}", headers=headers())
    assert resp.status_code == 204
    assert launcher.schedules.states == {} and policy_rows(session) == []
    assert len(list(session.exec(select(Backup)))) == 1
    assert client.get(f"{POLICIES}/{policy['id']}", headers=headers()).status_code == 404


def test_run_now_starts_a_manual_policy_run(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    resp = client.post(f"{POLICIES}/{policy['id']}/run", headers=headers())
    assert resp.status_code == 202
    (sub,) = launcher.submissions
    assert sub.deployment == "policy-run/safehold"
    assert sub.parameters == {"policy_id": policy["id"], "manual": True}
    assert resp.json() == {"run": {"flow_run_id": sub.flow_run_id}}


def seed_backups(
    session: Session, volume_id: str, policy_id: str | None, *, ages_hours: list[int]
) -> list[str]:
    """A chain of available backups (oldest first), ``ages_hours`` old."""
    ids: list[str] = []
    for age in ages_hours:
        backup = Backup(
            id=f"{age:04d}-" + "b" * 31,
            project_id=PROJECT,
            user_id="alice",
            volume_id=volume_id,
            parent_id=ids[-1] if ids else None,
            status=BackupStatus.AVAILABLE,
            policy_id=policy_id,
            created_at=utcnow() - timedelta(hours=age),
        )
        session.add(backup)
        session.commit()
        ids.append(backup.id)
    return ids


def test_retention_dry_run_returns_the_plan_and_changes_nothing(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    policy = create(client, retention={"keep_last": 1})
    volume = make_volume(session, settings.volumes_dir)
    old_full = seed_backups(session, volume.id, policy["id"], ages_hours=[50, 49])
    new_full = seed_backups(session, volume.id, policy["id"], ages_hours=[2])
    foreign = seed_backups(session, volume.id, None, ages_hours=[60])
    resp = client.post(f"{POLICIES}/{policy['id']}/retention", json={}, headers=headers())
    assert resp.status_code == 200, resp.text
    plan = resp.json()["retention"]
    assert [k["id"] for k in plan["kept"]] == [new_full[0], foreign[0]]
    assert {k["reason"] for k in plan["kept"]} == {"last 1", "not made by this policy"}
    assert sorted(e["id"] for e in plan["expired"]) == sorted(old_full)
    assert plan["deletes"] == [old_full[0]]  # the root: a cascade removes the chain
    assert launcher.submissions == []
    assert {b.status for b in session.exec(select(Backup))} == {"available"}


@pytest.mark.parametrize("status", [BackupStatus.CREATING, BackupStatus.RESTORING])
def test_retention_never_expires_a_busy_backup_nor_what_it_needs(
    client: TestClient, session: Session, settings: Settings, status: BackupStatus
) -> None:
    policy = create(client, retention={"keep_last": 1})
    volume = make_volume(session, settings.volumes_dir)
    old = seed_backups(session, volume.id, policy["id"], ages_hours=[50, 49])
    seed_backups(session, volume.id, policy["id"], ages_hours=[2])
    busy = session.get(Backup, old[-1])
    assert busy is not None
    busy.status = status
    session.add(busy)
    session.commit()
    resp = client.post(f"{POLICIES}/{policy['id']}/retention", json={}, headers=headers())
    kept = {k["id"]: k["reason"] for k in resp.json()["retention"]["kept"]}
    assert kept[old[1]] == "in progress" and kept[old[0]] == f"needed by {old[1]}"
    assert resp.json()["retention"]["expired"] == []


def test_retention_apply_starts_a_run_and_needs_rules(
    client: TestClient, launcher: RecordingLauncher
) -> None:
    policy = create(client)
    resp = client.post(
        f"{POLICIES}/{policy['id']}/retention", json={"dry_run": False}, headers=headers()
    )
    assert resp.status_code == 202
    (sub,) = launcher.submissions
    assert sub.deployment == "apply-retention/safehold"
    assert sub.parameters == {"policy_id": policy["id"], "dry_run": False}
    bare = create(client, retention=None)
    resp = client.post(f"{POLICIES}/{bare['id']}/retention", headers=headers())
    assert resp.status_code == 400
    assert "no retention rules" in resp.json()["badRequest"]["message"]
