"""`safehold run` killed: nothing it started outlives it, one supervisor per data dir, and
the runs a killed tree was executing end Crashed, their rows settled, within 60 s of the
restart (docs/operations.md "Failure handling").

One test, three start-ups on one data dir and one pair of ports, to share them:

1. a backup in flight; a concurrent start is refused naming the holder; `kill -9` of the
   supervisor alone takes every process of the tree with it at once;
2. the next start on the same ports comes up and has settled that backup; a backup and a
   restore are set running, and every process is killed at the same instant (a power cut);
3. the start after that settles both within 60 s, and the volume backs up again.
"""

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
from tests.live import ROOT, Service, run_env, running, steady_ports

pytestmark = pytest.mark.e2e
PROJECT = "crash000000000000000000000000001"
HEAL_WITHIN = 60.0  # the bound docs/operations.md states, counted from "Safehold is up"
GONE_WITHIN = 5.0
# Every store write and read takes 30 s: a run is mid-way for as long as the test needs.
SLOW_STORE = {"put": {"delay_ms": 30000}, "get": {"delay_ms": 30000}}


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (by parent links, sessions notwithstanding)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if _stat(pid)[:1] not in ([], ["Z"], ["X"])}


def _wait_gone(pids: set[int], within: float) -> None:
    deadline = time.monotonic() + within
    while _alive(pids):
        assert time.monotonic() < deadline, f"still alive: {sorted(_alive(pids))}"
        time.sleep(0.05)


def _power_cut(service: Service) -> None:
    """Every process of the tree stopped at one instant (none can react), then killed."""
    tree = {service.pid, *_descendants(service.pid)}
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in tree:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    _wait_gone(tree, GONE_WITHIN)


def _running_runs(service: Service, *backup_ids: str) -> list[str]:
    """The ids of the runs driving the backups, once all are inside a slowed store call."""
    run_ids = [backup_run_id(service.url, PROJECT, backup_id) for backup_id in backup_ids]
    for run_id in run_ids:
        wait_run(service.prefect_api, run_id, {"RUNNING"})
    time.sleep(0.5)
    return run_ids


def _second_start(service: Service) -> subprocess.Popen[str]:
    """`safehold run` again on the service's data dir and ports, while it lives."""
    return subprocess.Popen(
        [sys.executable, "-m", "deployments.cli", "run"],
        env=run_env(service.data_dir, *service.ports),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _settled(admin: Any, backup_id: str, volume_id: str) -> Any:
    """The backup, once `error` after its run crashed, with its volume `available`."""
    backup = wait_for(lambda: admin.backups.get(backup_id), {"error", "available"}, HEAL_WITHIN)
    assert backup.status == "error" and "crashed" in backup.fail_reason, backup.fail_reason
    wait_for(lambda: admin.volumes.get(volume_id), {"available"}, HEAL_WITHIN)
    return backup


def test_a_killed_tree_leaves_nothing_running_and_its_runs_heal_on_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("killed")
    # Outside the ephemeral range: nothing else on the machine takes them between starts.
    api, prefect, manila, trove = steady_ports()
    with running(data_dir, ports=(api, prefect, manila, trove)) as first:
        ports = first.ports
        admin: Any = cinder(first.url, "admin", PROJECT)
        vol = volume_with_data(admin, 4 * MIB, seed=21)
        before = admin.backups.create(vol.id, name="before")
        assert wait_for(lambda: admin.backups.get(before.id), {"available", "error"}).status == (
            "available"
        )
        first.fault_file.write_text(json.dumps(SLOW_STORE))
        orphan = admin.backups.create(vol.id, name="orphan")
        second = _second_start(first)
        try:
            [orphan_run] = _running_runs(first, orphan.id)
            _, stderr = second.communicate(timeout=60)
        finally:
            second.kill()  # a no-op once it has exited
        assert second.returncode == 2, stderr[-2000:]
        holder = f"pid {first.pid}, api 127.0.0.1:{ports[0]}, prefect {first.prefect_api}"
        assert f"another safehold run ({holder}) is using data dir {data_dir}" in stderr
        tree = _descendants(first.pid)
        assert len(tree) >= 4  # Prefect server, runner, API, the backup's flow run
        os.kill(first.pid, signal.SIGKILL)
        _wait_gone(tree, GONE_WITHIN)
        assert leftovers(data_dir) == []

    with running(data_dir, ports=ports) as again:  # the ports are free at once
        admin = cinder(again.url, "admin", PROJECT)
        _settled(admin, orphan.id, vol.id)
        assert run_state(again.prefect_api, orphan_run) == "CRASHED"
        cut = admin.backups.create(vol.id, name="cut")
        restore = admin.restores.restore(before.id)
        cut_run, restore_run = _running_runs(again, cut.id, before.id)
        _power_cut(again)
    (data_dir / "faults.json").unlink()

    with running(data_dir, ports=ports) as after:
        admin = cinder(after.url, "admin", PROJECT)
        _settled(admin, cut.id, vol.id)
        wait_for(lambda: admin.backups.get(before.id), {"available"}, HEAL_WITHIN)
        wait_for(lambda: admin.volumes.get(restore.volume_id), {"error"}, HEAL_WITHIN)
        states = [run_state(after.prefect_api, run) for run in (cut_run, restore_run)]
        assert states == ["CRASHED", "CRASHED"]
        new = admin.backups.create(vol.id, name="after")
        assert wait_for(lambda: admin.backups.get(new.id), {"available", "error"}).status == (
            "available"
        )
