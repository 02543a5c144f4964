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

from tests.e2e.helpers import MIB, cinder, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "intr0000000000000000000000000001"


def _run_state(service: Service, run_id: str) -> str:
    async def read() -> str:
        async with PrefectClient(service.prefect_api) as client:
            run = await client.read_flow_run(UUID(run_id))
            return run.state.type.value if run.state else "NONE"

    return asyncio.run(read())


def _cancel(service: Service, run_id: str) -> None:
    async def cancel() -> None:
        async with PrefectClient(service.prefect_api) as client:
            await client.set_flow_run_state(UUID(run_id), Cancelling(), force=True)

    asyncio.run(cancel())


def _flow_run_id(service: Service, backup_id: str) -> str:
    resp = requests.get(
        f"{service.url}/v1/{PROJECT}/backups/{backup_id}/progress",
        headers={"X-Auth-Token": f"admin:{PROJECT}"},
        timeout=10,
    )
    return str(resp.json()["progress"]["flow_run_id"])


def test_cancelled_backup_ends_in_error_and_frees_the_volume(service: Service) -> None:
    admin: Any = cinder(service.url, "admin", PROJECT)
    vol = admin.volumes.create(size=1, name="cancel-me")
    vol = wait_for(lambda: admin.volumes.get(vol.id), {"available"})
    write_mixed(Path(vol.metadata["safehold:path"]), 4 * MIB, seed=9)
    # A slow store keeps the backup running long enough to be cancelled mid-way.
    service.fault_file.write_text(json.dumps({"put": {"delay_ms": 20000}}))
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
