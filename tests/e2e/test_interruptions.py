"""Runs that end without finishing: the records they drove still reach terminal states."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.states import Cancelling

from tests.e2e.helpers import (
    MIB,
    backup_run_id,
    cinder,
    run_state,
    volume_with_data,
    wait_for,
    wait_run,
    write_mixed,
)
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "intr0000000000000000000000000001"


def _cancel(service: Service, run_id: str) -> None:
    async def cancel() -> None:
        async with PrefectClient(service.prefect_api) as client:
            await client.set_flow_run_state(UUID(run_id), Cancelling(), force=True)

    asyncio.run(cancel())


def _flow_run_id(service: Service, backup_id: str) -> str:
    return backup_run_id(service.url, PROJECT, backup_id)


def _run_state(service: Service, run_id: str) -> str:
    return run_state(service.prefect_api, run_id)


def test_cancelled_backup_ends_in_error_and_frees_the_volume(service: Service) -> None:
    admin: Any = cinder(service.url, "admin", PROJECT)
    vol = admin.volumes.create(size=1, name="cancel-me")
    vol = wait_for(lambda: admin.volumes.get(vol.id), {"available"})
    write_mixed(Path(vol.metadata["safehold:path"]), 4 * MIB, seed=9)
    # A slow store keeps the backup running long enough to be cancelled mid-way.
    service.fault_file.write_text(json.dumps({"put": {"delay_ms": 8000}}))
    try:
        backup = admin.backups.create(vol.id, name="cancelled")
        run_id = _flow_run_id(service, backup.id)
        deadline = time.monotonic() + 60
        while _run_state(service, run_id) != "RUNNING":
            assert time.monotonic() < deadline, "backup run never started"
            time.sleep(0.3)
        time.sleep(2)  # inside the slowed put
        _cancel(service, run_id)
        backup = wait_for(lambda: admin.backups.get(backup.id), {"error", "available"}, 90)
    finally:
        service.fault_file.unlink()
    assert backup.status == "error"
    assert backup.fail_reason.startswith(f"flow run {run_id} cancelled")
    assert admin.volumes.get(vol.id).status == "available"
    assert _run_state(service, run_id) == "CANCELLED"
    # Nothing was committed: the backup's manifest (the commit point) was never written.
    assert not (service.data_dir / "backups" / "backups" / backup.id / "manifest").exists()
    admin.backups.delete(backup.id)  # an error backup is deletable, leaving no garbage


def test_start_up_submits_a_reconcile_run_that_completes(service: Service) -> None:
    async def runs() -> list[Any]:
        async with PrefectClient(service.prefect_api) as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["reconcile start-up"]))
            )

    deadline = time.monotonic() + 60
    found = asyncio.run(runs())
    while not (found and found[0].state and found[0].state.type.value == "COMPLETED"):
        assert time.monotonic() < deadline, f"reconcile start-up run: {found}"
        time.sleep(0.5)
        found = asyncio.run(runs())
    assert len(found) == 1


def _reset(service: Service, backup_id: str, status: str) -> None:
    response = requests.post(
        f"{service.url}/v3/{PROJECT}/backups/{backup_id}/action",
        json={"os-reset_status": {"status": status}},
        headers={"X-Auth-Token": f"admin:{PROJECT}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text


ENDED = {"CANCELLED", "FAILED", "CRASHED", "COMPLETED"}


def _reset_mid_run(service: Service, backup_id: str, fault: dict[str, Any]) -> None:
    """With the store slowed by ``fault``, reset the backup (to error) once its run is in
    a slowed call, and wait for the run to end."""
    service.fault_file.write_text(json.dumps(fault))
    try:
        run_id = _flow_run_id(service, backup_id)
        wait_run(service.prefect_api, run_id, {"RUNNING"})
        time.sleep(1)
        _reset(service, backup_id, "error")
        assert wait_run(service.prefect_api, run_id, ENDED) in {"CANCELLED", "FAILED"}
    finally:
        service.fault_file.unlink()


def test_admin_reset_during_a_live_backup_stops_its_run(service: Service) -> None:
    """The reset releases the row at once; the run stops and never commits its manifest."""
    admin: Any = cinder(service.url, "admin", PROJECT)
    vol = volume_with_data(admin, 4 * MIB, seed=12)
    service.fault_file.write_text(json.dumps({"put": {"delay_ms": 3000}}))  # slow from the start
    backup = admin.backups.create(vol.id, name="reset-me")
    _reset_mid_run(service, backup.id, {"put": {"delay_ms": 3000}})
    time.sleep(4)  # longer than one slowed put: a run still writing would commit by now
    assert admin.backups.get(backup.id).status == "error"
    assert admin.volumes.get(vol.id).status == "available"
    assert not (service.data_dir / "backups" / "backups" / backup.id / "manifest").exists()
    again = admin.backups.create(vol.id, name="after-reset")
    assert wait_for(lambda: admin.backups.get(again.id), {"available", "error"}).status == (
        "available"
    )


def test_admin_reset_during_a_live_restore_leaves_the_target_untouched(service: Service) -> None:
    admin: Any = cinder(service.url, "admin", PROJECT)
    vol = volume_with_data(admin, 4 * MIB, seed=13)
    backup = admin.backups.create(vol.id, name="restore-me")
    assert wait_for(lambda: admin.backups.get(backup.id), {"available", "error"}).status == (
        "available"
    )
    target = volume_with_data(admin, 2 * MIB, seed=14)
    target_path = Path(target.metadata["safehold:path"])
    before = target_path.read_bytes()
    # Every read of the store slows down (the restore's, not the reset's: a reset to
    # error reads nothing), so the reset lands while the restore is mid-way.
    slow_reads = {"get": {"delay_ms": 5000}}
    service.fault_file.write_text(json.dumps(slow_reads))
    admin.restores.restore(backup.id, target.id)
    _reset_mid_run(service, backup.id, slow_reads)
    time.sleep(6)  # longer than one slowed read: a run still going would write by now
    assert admin.backups.get(backup.id).status == "error"
    assert admin.volumes.get(target.id).status == "error_restoring"
    assert target_path.read_bytes() == before  # the staging file never replaced it
    assert sorted(p.name for p in target_path.parent.glob(f".{target_path.name}*")) == []
