"""One real Safehold per test session: `safehold run` (Prefect server, runner, API)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP = 240.0


@dataclass(frozen=True)
class Service:
    """Where the service under test listens and keeps its data."""

    url: str
    prefect_api: str
    data_dir: Path
    fault_file: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"safehold run exited early:\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError as exc:
            if exc.code == 300:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"safehold run not up after {STARTUP}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Start the whole process tree as `make run` does, on free ports, and stop it."""
    data = tmp_path_factory.mktemp("safehold")
    api_port, ui_port = _free_port(), _free_port()
    fault_file = data / "faults.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAFEHOLD_"))}
    env.update(
        SAFEHOLD_DATA_DIR=str(data),
        SAFEHOLD_API_PORT=str(api_port),
        SAFEHOLD_UI_PORT=str(ui_port),
        SAFEHOLD_FAULT_FILE=str(fault_file),
    )
    log = data / "safehold-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deployments.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{api_port}"
    try:
        _wait_up(url + "/", proc, log)
        yield Service(url, f"http://127.0.0.1:{ui_port}/api", data, fault_file)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
