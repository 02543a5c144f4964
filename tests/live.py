"""Live services for tests that need real HTTP: the app in a uvicorn thread, or a whole
`safehold run` process tree (Prefect server, runner, API) on free ports."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
STARTUP = 240.0


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` (lifespan included) on 127.0.0.1; yields its root URL, stops on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass(frozen=True)
class Service:
    """Where a running `safehold run` listens and keeps its data.

    Store faults are injected from `fault_file` while that file exists (storage.faults).
    """

    url: str
    prefect_api: str
    data_dir: Path
    log: Path
    fault_file: Path
    pid: int = 0  # the supervisor's
    manila_url: str = ""
    trove_url: str = ""

    @property
    def ports(self) -> tuple[int, int, int, int]:
        """(API, Prefect, Manila, Trove ports): to start again on the same ones."""
        return (
            int(urlsplit(self.url).port or 0),
            int(urlsplit(self.prefect_api).port or 0),
            int(urlsplit(self.manila_url).port or 0),
            int(urlsplit(self.trove_url).port or 0),
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def steady_ports(count: int = 4) -> tuple[int, ...]:
    """``count`` free ports below the kernel's ephemeral range, for a service restarted on
    the same ports: no connect() or bind to port 0 (another test's, another process's) can
    take one of them while the service is down, as it can take one from the range."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    found: list[int] = []
    for port in random.sample(range(max(1024, low - 8000), low), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return tuple(found)
    raise RuntimeError(f"no {count} free ports below {low}")


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
        time.sleep(0.1)
    raise RuntimeError(f"safehold run not up after {STARTUP}s:\n{log.read_text()[-4000:]}")


def run_env(
    data_dir: Path,
    api_port: int,
    ui_port: int,
    manila_port: int,
    trove_port: int,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment `running` starts `safehold run` with (none of ours inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAFEHOLD_"))}
    env.update(
        SAFEHOLD_DATA_DIR=str(data_dir),
        SAFEHOLD_API_PORT=str(api_port),
        SAFEHOLD_UI_PORT=str(ui_port),
        SAFEHOLD_MANILA_PORT=str(manila_port),
        SAFEHOLD_TROVE_PORT=str(trove_port),
        SAFEHOLD_FAULT_FILE=str(data_dir / "faults.json"),
    )
    env.update(extra_env or {})
    return env


@contextmanager
def running(
    data_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    ports: tuple[int, int, int, int] | None = None,
) -> Iterator[Service]:
    """`python -m deployments.cli run` as `make run` starts it, with its data in
    ``data_dir``, on free ports (or ``ports``: API, Prefect, Manila, Trove), plus
    ``extra_env`` (e.g. an S3 store or a PostgreSQL catalog); SIGINT (then SIGKILL after
    40 s) on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    api_port, ui_port, manila_port, trove_port = ports or (
        _free_port(),
        _free_port(),
        _free_port(),
        _free_port(),
    )
    fault_file = data_dir / "faults.json"
    env = run_env(data_dir, api_port, ui_port, manila_port, trove_port, extra_env)
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
        yield Service(
            url,
            f"http://127.0.0.1:{ui_port}/api",
            data_dir,
            log,
            fault_file,
            proc.pid,
            f"http://127.0.0.1:{manila_port}",
            f"http://127.0.0.1:{trove_port}",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
