"""`safehold run` killed with SIGKILL: nothing it started survives, a second start on the
same data dir is refused while the first lives, and after a power cut (every process
killed mid-backup and mid-restore) the restarted service ends the orphaned runs Crashed
and settles their rows within 60 s."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests
from prefect.client.orchestration import PrefectClient

from deployments.instance import leftovers
from tests.e2e.helpers import MIB, cinder, wait_for, write_mixed
from tests.live import ROOT, Service, running

pytestmark = pytest.mark.e2e
PROJECT = "crash000000000000000000000000001"
HEAL_WITHIN = 60.0


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (by parent links, sessions notwithstanding)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill_everything(service: Service) -> None:
    """A power cut: SIGKILL the supervisor and every process it started, at once."""
    for pid in {service.pid, *_descendants(service.pid), *leftovers(service.data_dir)}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _run_state(service: Service, run_id: str) -> str:
    async def read() -> str:
        async with PrefectClient(service.prefect_api) as client:
            run = await client.read_flow_run(UUID(run_id))
            return run.state.type.value if run.state else "NONE"

    return asyncio.run(read())


def _flow_run_id(service: Service, backup_id: str) -> str:
    resp = requests.get(
        f"{service.url}/v1/{PROJECT}/backups/{backup_id}/progress",
        headers={"X-Auth-Token": f"admin:{PROJECT}"},
        timeout=10,
    )
    return str(resp.json()["progress"]["flow_run_id"])


def _wait_running(service: Service, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while _run_state(service, run_id) != "RUNNING":
        assert time.monotonic() < deadline, "run never started"
        time.sleep(0.3)
    time.sleep(1.5)  # inside the slowed store call


def test_children_die_with_the_supervisor_and_one_run_per_data_dir(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("killed")
    with running(data_dir) as service:
        # A backup in flight: its flow-run process must not outlive the tree either.
        admin: Any = cinder(service.url, "admin", PROJECT)
        created = admin.volumes.create(size=1, name="orphan")
        vol = wait_for(lambda: admin.volumes.get(created.id), {"available"})
        write_mixed(Path(vol.metadata["safehold:path"]), 2 * MIB, seed=22)
        service.fault_file.write_text(json.dumps({"put": {"delay_ms": 30000}}))
        backup = admin.backups.create(vol.id, name="orphan")
        _wait_running(service, _flow_run_id(service, backup.id))
        tree = _descendants(service.pid)
        assert len(tree) >= 4  # Prefect server, runner, API, the backup's flow run
        second = subprocess.run(
            [sys.executable, "-m", "deployments.cli", "run"],
            env={**os.environ, "SAFEHOLD_DATA_DIR": str(data_dir)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"another safehold run (pid {service.pid})" in second.stderr
        os.kill(service.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in tree):
            assert time.monotonic() < deadline, [p for p in tree if _alive(p)]
            time.sleep(0.2)
        assert leftovers(data_dir) == []
    # The same data dir starts again at once (fresh ports: the old ones are free too).
    with running(data_dir) as again:
        assert requests.get(again.url + "/", timeout=10).status_code == 300


def test_a_power_cut_mid_backup_and_mid_restore_heals_after_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("powercut")
    with running(data_dir) as service:
        admin: Any = cinder(service.url, "admin", PROJECT)
        created = admin.volumes.create(size=1, name="powercut")
        vol = wait_for(lambda: admin.volumes.get(created.id), {"available"})
        write_mixed(Path(vol.metadata["safehold:path"]), 4 * MIB, seed=21)
        done = admin.backups.create(vol.id, name="before")
        assert wait_for(lambda: admin.backups.get(done.id), {"available", "error"}).status == (
            "available"
        )
        service.fault_file.write_text(json.dumps({"put": {"delay_ms": 30000}}))
        backup = admin.backups.create(vol.id, name="cut")
        backup_run = _flow_run_id(service, backup.id)
        _wait_running(service, backup_run)
        service.fault_file.write_text(json.dumps({"get": {"delay_ms": 30000}}))
        restore = admin.restores.restore(done.id)
        restore_run = _flow_run_id(service, done.id)
        _wait_running(service, restore_run)
        _kill_everything(service)
    service.fault_file.unlink()

    started = time.monotonic()
    with running(data_dir) as after:
        admin = cinder(after.url, "admin", PROJECT)
        cut = wait_for(lambda: admin.backups.get(backup.id), {"error"}, HEAL_WITHIN)
        assert "crashed" in cut.fail_reason
        assert wait_for(lambda: admin.volumes.get(vol.id), {"available"}, HEAL_WITHIN)
        assert wait_for(lambda: admin.backups.get(done.id), {"available"}, HEAL_WITHIN)
        assert wait_for(lambda: admin.volumes.get(restore.volume_id), {"error"}, HEAL_WITHIN)
        assert time.monotonic() - started < HEAL_WITHIN + 60  # start-up included
        assert (_run_state(after, backup_run), _run_state(after, restore_run)) == (
            "CRASHED",
            "CRASHED",
        )
        again = admin.backups.create(vol.id, name="after", incremental=True)
        assert wait_for(lambda: admin.backups.get(again.id), {"available", "error"}).status == (
            "available"
        )
