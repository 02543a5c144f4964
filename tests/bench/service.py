"""Start and stop a whole `safehold run` on free ports, as tests/e2e/conftest.py does."""

from __future__ import annotations

import contextlib
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

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 240.0


@dataclass(frozen=True)
class Service:
    """Where the running service listens and keeps its data."""

    url: str
    prefect_api: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the API answers its version document (300 Multiple Choices)."""
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


@contextlib.contextmanager
def running(data_dir: Path) -> Iterator[Service]:
    """`python -m deployments.cli run` with its data in ``data_dir``; stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    api_port, ui_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAFEHOLD_"))}
    env.update(
        SAFEHOLD_DATA_DIR=str(data_dir),
        SAFEHOLD_API_PORT=str(api_port),
        SAFEHOLD_UI_PORT=str(ui_port),
    )
    log = data_dir / "safehold-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deployments.cli", "run"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{api_port}"
    try:
        _wait_up(url + "/", proc, log)
        yield Service(url, f"http://127.0.0.1:{ui_port}/api", data_dir, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
