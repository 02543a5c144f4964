"""Backup policies end to end: the real Prefect server, scheduler and runner.

A one-minute cron policy is created first and checked last (its scheduled run happens
meanwhile); in between, run-now fans out over a metadata selector, a failing target
fails the run, a run past its start window is recorded as missed, pausing goes both
ways between our API and Prefect, and retention deletes whole chains only.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from manilaclient import api_versions
from manilaclient import client as manila_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.states import Scheduled
from troveclient.v1 import client as trove_client

from deployments.policy_sync import sync_policies
from storage.catalog import utcnow
from storage.settings import Settings
from tests.e2e.helpers import cinder, wait_for, wait_run
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "e2e0000000000000000000000000p01"
USER = "alice"
TOKEN = {"X-Auth-Token": f"{USER}:{PROJECT}"}


def prefect(service: Service, work: Callable[[PrefectClient], Any]) -> Any:
    """Run ``await work(client)`` against the service's Prefect server."""

    async def go() -> Any:
        async with PrefectClient(service.prefect_api) as client:
            return await work(client)

    return asyncio.run(go())


class Api:
    """The policies API of the running service, as user alice of PROJECT."""

    def __init__(self, service: Service) -> None:
        self.base = f"{service.url}/v1/{PROJECT}/policies"

    def create(self, **policy: Any) -> dict[str, Any]:
        resp = requests.post(self.base, json={"policy": policy}, headers=TOKEN, timeout=30)
        assert resp.status_code == 201, resp.text
        created: dict[str, Any] = resp.json()["policy"]
        return created

    def show(self, policy_id: str) -> dict[str, Any]:
        resp = requests.get(f"{self.base}/{policy_id}", headers=TOKEN, timeout=30)
        assert resp.status_code == 200, resp.text
        shown: dict[str, Any] = resp.json()["policy"]
        return shown

    def post(self, policy_id: str, action: str, body: Any = None) -> requests.Response:
        return requests.post(
            f"{self.base}/{policy_id}/{action}", json=body, headers=TOKEN, timeout=30
        )

    def run_now(self, service: Service, policy_id: str, ends: set[str]) -> str:
        """Run the policy now and wait for its run to end in ``ends``; the run id."""
        resp = self.post(policy_id, "run")
        assert resp.status_code == 202, resp.text
        run_id = str(resp.json()["run"]["flow_run_id"])
        state = wait_run(
            service.prefect_api, run_id, ends | {"COMPLETED", "FAILED", "CRASHED"}, 180
        )
        assert state in ends, f"policy run {run_id} ended {state}"
        return run_id


@pytest.fixture(scope="module")
def api(service: Service) -> Api:
    return Api(service)


@pytest.fixture(scope="module")
def cinder_api(service: Service) -> Any:
    return cinder(service.url, USER, PROJECT)


def new_volume(cinder_api: Any, name: str, metadata: dict[str, str] | None = None) -> Any:
    created = cinder_api.volumes.create(size=1, name=name, metadata=metadata or {})
    return wait_for(lambda: cinder_api.volumes.get(created.id), {"available"})


def backups_of(cinder_api: Any, volume_id: str) -> list[Any]:
    return [b for b in cinder_api.backups.list(detailed=True) if b.volume_id == volume_id]


@pytest.fixture(scope="module")
def cron_policy(api: Api, cinder_api: Any) -> Iterator[dict[str, Any]]:
    """A policy on a one-minute cron, created before the other tests run; paused after
    them, so that later tests of the session service see no scheduled backups."""
    volume = new_volume(cinder_api, "cron-target")
    policy = api.create(
        name="every-minute",
        targets={"kind": "volume", "resource_id": volume.id},
        schedule={"cron": "* * * * *", "timezone": "Europe/Paris"},
        start_window_seconds=120,
        retention={"keep_last": 5},
    )
    yield policy
    assert api.post(policy["id"], "pause").status_code == 200


def schedule_of(service: Service, policy_id: str) -> Any:
    async def read(client: PrefectClient) -> Any:
        deployment = await client.read_deployment_by_name("policy-run/safehold")
        found = await client.read_deployment_schedules(deployment.id)
        return next((s for s in found if s.slug == f"policy-{policy_id}"), None)

    return prefect(service, read)


def test_a_policy_is_one_prefect_schedule_with_its_parameters(
    service: Service, cron_policy: dict[str, Any]
) -> None:
    schedule = schedule_of(service, cron_policy["id"])
    assert schedule.active and str(schedule.id) == cron_policy["schedule_id"]
    assert schedule.parameters == {"policy_id": cron_policy["id"]}
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("* * * * *", "Europe/Paris")


def test_pausing_goes_both_ways_between_the_api_and_prefect(
    service: Service, api: Api, cinder_api: Any
) -> None:
    volume = new_volume(cinder_api, "paused-target")
    policy = api.create(
        name="hourly",
        targets={"kind": "volume", "resource_id": volume.id},
        schedule={"interval_seconds": 3600},
    )
    assert api.post(policy["id"], "pause").json()["policy"]["status"] == "paused"
    assert not schedule_of(service, policy["id"]).active

    schedule = schedule_of(service, policy["id"])

    async def resume_in_prefect(client: PrefectClient) -> None:
        deployment = await client.read_deployment_by_name("policy-run/safehold")
        await client.update_deployment_schedule(
            deployment.id, schedule.id, active=True, parameters={"policy_id": policy["id"]}
        )

    prefect(service, resume_in_prefect)  # as an operator in the Prefect UI
    assert api.show(policy["id"])["status"] == "active"
    assert api.post(policy["id"], "pause").status_code == 200
    assert api.show(policy["id"])["status"] == "paused"
    assert schedule_of(service, policy["id"]).parameters == {"policy_id": policy["id"]}


def test_run_now_backs_up_every_selected_target_and_tags_the_runs(
    service: Service, api: Api, cinder_api: Any
) -> None:
    gold = [new_volume(cinder_api, f"gold-{i}", {"tier": "gold"}) for i in range(2)]
    plain = new_volume(cinder_api, "plain", {"tier": "bronze"})
    policy = api.create(
        name="gold",
        targets={"kind": "volume", "metadata": {"tier": "gold"}},
        schedule={"cron": "0 3 * * *"},
        mode={"full_every_runs": 2},
    )
    first = api.run_now(service, policy["id"], {"COMPLETED"})
    second = api.run_now(service, policy["id"], {"COMPLETED"})
    for volume in gold:
        made = sorted(backups_of(cinder_api, volume.id), key=lambda b: b.created_at)
        assert [b.status for b in made] == ["available", "available"]
        assert [b.metadata["safehold:policy_id"] for b in made] == [policy["id"]] * 2
        assert (made[0].is_incremental, made[1].is_incremental) == (False, True)
    assert backups_of(cinder_api, plain.id) == []

    async def summary(client: PrefectClient) -> Any:
        key = ArtifactFilter(key=ArtifactFilterKey(any_=[f"backup-{made[1].id}"]))
        return await client.read_artifacts(artifact_filter=key)

    (table,) = prefect(service, summary)
    (row,) = json.loads(table.data)
    assert row["backup"] == made[1].id and row["source_bytes"] == 1024**3
    assert row["stored_bytes"] > 0 and row["throughput_mb_s"] > 0
    shown = api.show(policy["id"])
    assert shown["last_run_state"] == "COMPLETED" and shown["last_run_flow_run_id"] == second
    assert shown["consecutive_failures"] == 0 and shown["last_success_at"] is not None

    async def children(client: PrefectClient) -> list[Any]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        tags = [f"policy:{policy['id']}", "kind:backup"]  # not the policy runs themselves
        tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=tags))
        return await client.read_flow_runs(flow_run_filter=tagged)

    runs = prefect(service, children)
    assert len(runs) == 4  # two targets, two runs
    assert {run.name.rsplit(" ", 1)[-1] for run in runs} == {"full", "incremental"}
    assert all(f"project:{PROJECT}" in run.tags and "kind:backup" in run.tags for run in runs)
    assert {tag for run in runs for tag in run.tags if tag.startswith("volume:")} == {
        f"volume:{volume.id}" for volume in gold
    }
    assert first != second


def test_a_target_that_cannot_be_backed_up_fails_the_run(
    service: Service, api: Api, cinder_api: Any
) -> None:
    volume = new_volume(cinder_api, "broken")
    admin = {"X-Auth-Token": f"admin:{PROJECT}"}
    reset = requests.post(
        f"{service.url}/v3/{PROJECT}/volumes/{volume.id}/action",
        json={"os-reset_status": {"status": "error"}},
        headers=admin,
        timeout=30,
    )
    assert reset.status_code == 202, reset.text
    policy = api.create(
        name="doomed",
        targets={"kind": "volume", "resource_id": volume.id},
        schedule={"cron": "0 3 * * *"},
    )
    api.run_now(service, policy["id"], {"FAILED"})
    api.run_now(service, policy["id"], {"FAILED"})
    shown = api.show(policy["id"])
    assert shown["last_run_state"] == "FAILED" and shown["consecutive_failures"] == 2
    assert f"volume {volume.id} is error" in shown["last_run_reason"]
    assert shown["last_success_at"] is None


def test_a_run_that_starts_past_its_window_is_missed_not_run(
    service: Service, api: Api, cinder_api: Any
) -> None:
    volume = new_volume(cinder_api, "missed")
    policy = api.create(
        name="windowed",
        targets={"kind": "volume", "resource_id": volume.id},
        schedule={"cron": "0 3 * * *"},
        start_window_seconds=60,
    )

    async def late_run(client: PrefectClient) -> str:
        deployment = await client.read_deployment_by_name("policy-run/safehold")
        run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"policy_id": policy["id"]},
            state=Scheduled(scheduled_time=utcnow() - timedelta(minutes=10)),
        )
        return str(run.id)

    run_id = prefect(service, late_run)
    assert (
        wait_run(service.prefect_api, run_id, {"CANCELLED", "COMPLETED", "FAILED"}) == "CANCELLED"
    )
    shown = api.show(policy["id"])
    assert shown["missed_runs"] == 1 and shown["last_run_state"] == "MISSED"
    assert "beyond the start window of 60 s" in shown["last_run_reason"]
    assert backups_of(cinder_api, volume.id) == []


def test_retention_expires_whole_chains_and_never_a_backup_made_by_hand(
    service: Service, api: Api, cinder_api: Any
) -> None:
    volume = new_volume(cinder_api, "retained")
    manual = cinder_api.backups.create(volume.id, name="by-hand")
    wait_for(lambda: cinder_api.backups.get(manual.id), {"available"})
    policy = api.create(
        name="keep-one",
        targets={"kind": "volume", "resource_id": volume.id},
        schedule={"cron": "0 3 * * *"},
        mode={"full_every_runs": 2},
        retention={"keep_last": 1},
    )
    for _ in range(3):  # full F1 (the manual backup is not this chain's), I1 on F1, full F2
        api.run_now(service, policy["id"], {"COMPLETED"})
    left = backups_of(cinder_api, volume.id)
    by_policy = [b for b in left if b.metadata.get("safehold:policy_id") == policy["id"]]
    assert {b.id for b in left} - {b.id for b in by_policy} == {manual.id}
    assert len(by_policy) == 1 and not by_policy[0].is_incremental
    plan = api.post(policy["id"], "retention", {"dry_run": True}).json()["retention"]
    assert [k["id"] for k in plan["kept"] if k["reason"] == "last 1"] == [by_policy[0].id]
    assert plan["expired"] == []

    async def artifact(client: PrefectClient) -> Any:
        key = ArtifactFilter(key=ArtifactFilterKey(any_=[f"retention-{policy['id']}"]))
        return await client.read_artifacts(artifact_filter=key)

    newest = max(prefect(service, artifact), key=lambda table: table.created)
    decided = {row["backup"]: row["decision"] for row in json.loads(newest.data)}
    assert decided[by_policy[0].id] == "kept" and decided[manual.id] == "kept"
    assert sorted(decided.values()).count("expired") == 2  # F1 and I1, a whole chain


def test_shares_and_database_instances_are_policy_targets_too(service: Service, api: Api) -> None:
    manila = manila_client.Client(
        api_versions.APIVersion("2.80"),
        input_auth_token=f"admin:{PROJECT}",  # export locations are admin-only
        service_catalog_url=service.manila_url + "/v2",
    )
    auth = token_endpoint.Token(
        endpoint=f"{service.trove_url}/v1.0/{PROJECT}", token=f"{USER}:{PROJECT}"
    )
    trove = trove_client.Client(session=ks_session.Session(auth=auth))
    made = manila.shares.create("NFS", 1, name="policy-share", metadata={"tier": "gold"})
    share = wait_for(lambda: manila.shares.get(made.id), {"available"})
    (location,) = manila.share_export_locations.list(share)
    (Path(location.path) / "data.txt").write_text("kept by a policy\n" * 1000)
    made = trove.instances.create(
        "policy-db", flavor_id="1", volume={"size": 1}, datastore="sqlite"
    )
    instance = wait_for(lambda: trove.instances.get(made.id), {"ACTIVE"})
    keep_one = {"keep_last": 1}
    by_kind = {
        "share": api.create(
            name="shares-gold",
            targets={"kind": "share", "metadata": {"tier": "gold"}},
            schedule={"cron": "0 3 * * *"},
            mode={"full_every_runs": 1},
            retention=keep_one,
        ),
        "instance": api.create(
            name="db-nightly",
            targets={"kind": "instance", "resource_id": instance.id},
            schedule={"cron": "0 3 * * *"},
            retention=keep_one,
        ),
    }
    for policy in by_kind.values():
        for _ in range(2):
            api.run_now(service, policy["id"], {"COMPLETED"})
    share_backups = [b for b in manila.share_backups.list() if b.share_id == share.id]
    assert len(share_backups) == 1 and share_backups[0].status == "available"
    assert by_kind["share"]["id"] in share_backups[0].description
    # The database policy chains (no full_every_runs): keep_last 1 keeps the newest, an
    # incremental, and so its full ("needed by"): chains go whole.
    db_backups = sorted(trove.instances.backups(instance.id), key=lambda b: b.created)
    assert [b.status for b in db_backups] == ["COMPLETED", "COMPLETED"]
    assert db_backups[1].parent_id == db_backups[0].id
    assert all(by_kind["instance"]["id"] in b.description for b in db_backups)
    runs = prefect(service, lambda c: c.read_flow_runs())
    names = {run.name for run in runs}
    assert {"create-share-backup policy-share full", "create-db-backup policy-db full"} <= names


def test_start_up_sync_restores_what_was_changed_in_prefect(
    service: Service, api: Api, cinder_api: Any
) -> None:
    volume = new_volume(cinder_api, "synced")
    target = {"kind": "volume", "resource_id": volume.id}
    edited = api.create(name="edited", targets=target, schedule={"cron": "0 4 * * *"})
    lost = api.create(name="lost", targets=target, schedule={"interval_seconds": 7200})
    orphan = str(uuid.uuid4())

    async def meddle(client: PrefectClient) -> None:
        from prefect.client.schemas.schedules import CronSchedule

        deployment = await client.read_deployment_by_name("policy-run/safehold")
        found = {s.slug: s for s in await client.read_deployment_schedules(deployment.id)}
        # An operator edits one in the UI (and drops its parameters), deletes another
        # and leaves a schedule whose policy is gone.
        await client.update_deployment_schedule(
            deployment.id,
            found[f"policy-{edited['id']}"].id,
            schedule=CronSchedule(cron="*/5 * * * *"),
            active=False,
            parameters={},
        )
        await client.delete_deployment_schedule(deployment.id, found[f"policy-{lost['id']}"].id)
        await client.create_deployment_schedules(
            deployment.id,
            [(CronSchedule(cron="0 5 * * *"), True)],
            parameters={"policy_id": orphan},
            slug=f"policy-{orphan}",
        )

    prefect(service, meddle)
    report = asyncio.run(sync_policies(service.prefect_api, Settings(data_dir=service.data_dir)))
    assert edited["id"] in report.rewritten and lost["id"] in report.recreated
    assert report.removed == [orphan]
    fixed = schedule_of(service, edited["id"])
    assert fixed.schedule.cron == "0 4 * * *" and fixed.parameters == {"policy_id": edited["id"]}
    assert not fixed.active and api.show(edited["id"])["status"] == "paused"  # Prefect's flag
    back = schedule_of(service, lost["id"])
    assert back.active and back.schedule.interval == timedelta(hours=2)
    assert back.parameters == {"policy_id": lost["id"]}
    assert schedule_of(service, orphan) is None

    async def sweep(client: PrefectClient) -> tuple[Any, str]:
        deployment = await client.read_deployment_by_name("retention-sweep/safehold")
        found = await client.read_deployment_schedules(deployment.id)
        run = await client.create_flow_run_from_deployment(deployment.id)
        return next(s for s in found if s.slug == "retention-sweep"), str(run.id)

    schedule, run_id = prefect(service, sweep)
    assert schedule.active and schedule.schedule.cron == "17 * * * *"
    assert wait_run(service.prefect_api, run_id, {"COMPLETED", "FAILED", "CRASHED"}) == "COMPLETED"


def test_the_cron_policy_ran_on_its_schedule(
    service: Service, api: Api, cinder_api: Any, cron_policy: dict[str, Any]
) -> None:
    deadline = time.monotonic() + 150
    shown = api.show(cron_policy["id"])
    while shown["last_run_state"] != "COMPLETED":
        assert time.monotonic() < deadline, f"no scheduled run completed: {shown}"
        time.sleep(2)
        shown = api.show(cron_policy["id"])
    volume_id = cron_policy["targets"]["resource_id"]
    made = backups_of(cinder_api, volume_id)
    assert made and all(b.metadata["safehold:policy_id"] == cron_policy["id"] for b in made)
    # Prefect re-plans a deployment's runs within its scheduler loop (10 s) of any
    # schedule change (the sync test above rewrote them all).
    deadline = time.monotonic() + 30
    while api.show(cron_policy["id"])["next_run_at"] is None:
        assert time.monotonic() < deadline, "no next run scheduled"
        time.sleep(1)
    run = prefect(service, lambda c: c.read_flow_run(uuid.UUID(shown["last_run_flow_run_id"])))
    assert run.name == "policy every-minute scheduled" and run.auto_scheduled
