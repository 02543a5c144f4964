"""`safehold run` killed with SIGKILL: nothing it started survives, a second start on the
same data dir is refused while the first lives, and after a power cut (every process
killed mid-backup and mid-restore) the restarted service ends the orphaned runs Crashed
and settles their rows within 60 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from deployments.instance import leftovers
from tests.e2e.helpers import (
    MIB,
    backup_run_id,
    cinder,
    run_state,
    volume_with_data,
    wait_for,
    wait_run,
)
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


def _wait_running(service: Service, backup_id: str) -> str:
    """The backup's run id, once that run is inside a slowed store call."""
    run_id = backup_run_id(service.url, PROJECT, backup_id)
    wait_run(service.prefect_api, run_id, {"RUNNING"})
    time.sleep(1.5)
    return run_id


def test_children_die_with_the_supervisor_and_one_run_per_data_dir(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("killed")
    with running(data_dir) as service:
        # A backup in flight: its flow-run process must not outlive the tree either.
        admin: Any = cinder(service.url, "admin", PROJECT)
        vol = volume_with_data(admin, 2 * MIB, seed=22)
        service.fault_file.write_text(json.dumps({"put": {"delay_ms": 30000}}))
        _wait_running(service, admin.backups.create(vol.id, name="orphan").id)
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
        vol = volume_with_data(admin, 4 * MIB, seed=21)
        done = admin.backups.create(vol.id, name="before")
        assert wait_for(lambda: admin.backups.get(done.id), {"available", "error"}).status == (
            "available"
        )
        # Every store write and read now takes 30 s: both runs are mid-way when the power goes.
        slow = {"put": {"delay_ms": 30000}, "get": {"delay_ms": 30000}}
        service.fault_file.write_text(json.dumps(slow))
        backup = admin.backups.create(vol.id, name="cut")
        backup_run = _wait_running(service, backup.id)
        restore = admin.restores.restore(done.id)
        restore_run = _wait_running(service, done.id)
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
        states = [run_state(after.prefect_api, run) for run in (backup_run, restore_run)]
        assert states == ["CRASHED", "CRASHED"]
        again = admin.backups.create(vol.id, name="after", incremental=True)
        assert wait_for(lambda: admin.backups.get(again.id), {"available", "error"}).status == (
            "available"
        )
