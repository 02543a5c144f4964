"""The fast start path (event pickup + warm fork server) against a real `safehold run`.

The runner's fallback poll is set to an hour here, so a run that starts at all was claimed
on the server's `prefect.flow-run.Scheduled` event; the runner log names the process each
run was forked into from the warm fork server. Together they fail if a Prefect upgrade
breaks either half. Crash, cancel and task retry are proven on that path; the stock runner
(`SAFEHOLD_RUNNER_PICKUP=poll`) is proven to still serve.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.states import Cancelling

from tests.e2e.helpers import (
    MIB,
    backup_run_id,
    cinder,
    volume_with_data,
    wait_for,
    wait_run,
)
from tests.live import Service, running

pytestmark = pytest.mark.e2e
PROJECT = "fast0000000000000000000000000001"
# Long enough to cancel or kill a run inside its first store write; a cancelled run
# still waits for that write (its thread) to return before its process exits.
SLOW_STORE = {"put": {"delay_ms": 6000}}


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose runner only learns of runs from events (the poll is hourly)."""
    env = {"SAFEHOLD_RUNNER_QUERY_SECONDS": "3600"}
    with running(tmp_path_factory.mktemp("fast"), extra_env=env) as svc:
        yield svc


def _runner_log(svc: Service) -> str:
    return (svc.data_dir / "logs" / "runner.log").read_text(errors="replace")


def _warm_pid(svc: Service, run_id: str, timeout: float = 60) -> int:
    """The pid of the process the runner forked `run_id` into from the warm server."""
    pattern = re.compile(rf"flow run {run_id} forked from the warm server as process (\d+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(_runner_log(svc))
        if found:
            return int(found.group(1))
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} was not forked from the warm server:\n{_runner_log(svc)}")


def _slow_backup(svc: Service, admin: Any, seed: int) -> tuple[Any, Any, str]:
    """A backup inside a slow store write, its volume and its (RUNNING) flow run id."""
    vol = volume_with_data(admin, 4 * MIB, seed=seed)
    svc.fault_file.write_text(json.dumps(SLOW_STORE))
    backup = admin.backups.create(vol.id, name=f"slow-{seed}")
    run_id = backup_run_id(svc.url, PROJECT, backup.id)
    wait_run(svc.prefect_api, run_id, {"RUNNING"})
    time.sleep(1.5)  # inside the slowed put
    return vol, backup, run_id


def test_a_run_is_claimed_on_its_event_and_forked_from_the_warm_server(fast: Service) -> None:
    admin: Any = cinder(fast.url, "admin", PROJECT)
    vol = volume_with_data(admin, 2 * MIB, seed=1)
    backup = _backed_up(admin, vol.id)
    run_id = backup_run_id(fast.url, PROJECT, backup.id)
    _warm_pid(fast, run_id)
    assert wait_run(fast.prefect_api, run_id, {"COMPLETED", "FAILED", "CRASHED"}) == "COMPLETED"
    assert "event pickup subscribed to prefect.flow-run.Scheduled" in _runner_log(fast)


def test_a_killed_run_process_crashes_its_run_and_settles_the_backup(fast: Service) -> None:
    admin: Any = cinder(fast.url, "admin", PROJECT)
    try:
        vol, backup, run_id = _slow_backup(fast, admin, seed=2)
        os.kill(_warm_pid(fast, run_id), signal.SIGKILL)
        backup = wait_for(lambda: admin.backups.get(backup.id), {"error", "available"}, 90)
    finally:
        fast.fault_file.unlink()
    assert wait_run(fast.prefect_api, run_id, {"CRASHED"}) == "CRASHED"
    assert backup.status == "error"
    assert run_id in backup.fail_reason and "crashed" in backup.fail_reason.lower()
    assert admin.volumes.get(vol.id).status == "available"
    # The fork server is unharmed: the next backup of the volume runs, forked from it.
    again = _backed_up(admin, vol.id)
    _warm_pid(fast, backup_run_id(fast.url, PROJECT, again.id))


def test_a_cancelled_warm_run_ends_cancelled_and_frees_the_volume(fast: Service) -> None:
    admin: Any = cinder(fast.url, "admin", PROJECT)
    try:
        vol, backup, run_id = _slow_backup(fast, admin, seed=3)
        pid = _warm_pid(fast, run_id)

        async def cancel() -> None:
            async with PrefectClient(fast.prefect_api) as client:
                await client.set_flow_run_state(UUID(run_id), Cancelling(), force=True)

        asyncio.run(cancel())
        backup = wait_for(lambda: admin.backups.get(backup.id), {"error", "available"}, 90)
    finally:
        fast.fault_file.unlink()
    assert wait_run(fast.prefect_api, run_id, {"CANCELLED"}) == "CANCELLED"
    assert backup.status == "error"
    assert backup.fail_reason.startswith(f"flow run {run_id} cancelled")
    assert admin.volumes.get(vol.id).status == "available"
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def test_a_task_retry_happens_inside_the_forked_process(fast: Service) -> None:
    admin: Any = cinder(fast.url, "admin", PROJECT)
    vol = volume_with_data(admin, 4 * MIB, seed=4)
    fast.fault_file.write_text(json.dumps({"put": {"transient": 2}}))
    try:
        backup = _backed_up(admin, vol.id)
    finally:
        fast.fault_file.unlink()
    run_id = backup_run_id(fast.url, PROJECT, backup.id)
    _warm_pid(fast, run_id)
    assert wait_run(fast.prefect_api, run_id, {"COMPLETED", "FAILED", "CRASHED"}) == "COMPLETED"
    assert _retried_tasks(fast, run_id), "no task of the run was retried"


def test_the_stock_polling_runner_still_serves(tmp_path: Path) -> None:
    env = {"SAFEHOLD_RUNNER_PICKUP": "poll", "SAFEHOLD_RUNNER_QUERY_SECONDS": "1"}
    with running(tmp_path / "stock", extra_env=env) as svc:
        admin: Any = cinder(svc.url, "admin", PROJECT)
        vol = volume_with_data(admin, 2 * MIB, seed=5)
        backup = _backed_up(admin, vol.id)
        run_id = backup_run_id(svc.url, PROJECT, backup.id)
        assert wait_run(svc.prefect_api, run_id, {"COMPLETED", "FAILED", "CRASHED"}) == "COMPLETED"
        assert "forked from the warm server" not in _runner_log(svc)


def _backed_up(admin: Any, volume_id: str) -> Any:
    """A new backup of the volume, once it is available (fails on error or timeout)."""
    created = admin.backups.create(volume_id)
    return wait_for(lambda: admin.backups.get(created.id), {"available"})


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True  # gone meanwhile


def _retried_tasks(svc: Service, run_id: str) -> list[str]:
    """Names of the run's task runs that went through AwaitingRetry/Retrying."""

    async def read() -> list[str]:
        async with PrefectClient(svc.prefect_api) as client:
            from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)]))
            )
            retried = []
            for task in tasks:
                states = await client.read_task_run_states(task.id)
                if any(s.name in {"AwaitingRetry", "Retrying"} for s in states):
                    retried.append(task.name)
            return retried

    # Task states travel as events: they reach the API shortly after the run ends.
    deadline = time.monotonic() + 30
    while True:
        found = asyncio.run(read())
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
