"""The `safehold run` process tree: Prefect server, flow runner and API, stopped together."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from prefect.client.orchestration import PrefectClient
from prefect.deployments.flow_runs import arun_deployment

from deployments.environment import prefect_api_url, prefect_server_env, service_env
from deployments.instance import (
    DataDirBusy,
    claim_data_dir,
    dies_with_this_process,
    stop_leftovers,
)
from deployments.policy_sync import sync_policies
from deployments.recovery import crash_orphaned_runs
from deployments.runner import PARENT_DIED
from flows.limits import DATA_LIMIT
from flows.registry import DEPLOYMENT, FLOWS
from storage.catalog import make_engine, migrate
from storage.settings import Settings

log = logging.getLogger("safehold")
ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 180.0


class Supervisor:
    """Starts children in their own process groups and stops them all on exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = service_env(settings)
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        parent_died: int = signal.SIGKILL,
    ) -> None:
        """Start one child (with ``env``, default the service environment) that the kernel
        sends ``parent_died`` when this process dies; its output goes to the data dir's
        logs/<name>.log."""
        logs = self.settings.data_path / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115  (kept open for the child)
        proc = subprocess.Popen(
            argv,
            env=self.env if env is None else env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A supervisor killed with SIGKILL cannot stop its children: the kernel does.
            preexec_fn=dies_with_this_process(parent_died),
        )
        self.children.append((name, proc))
        log.info("started %s (pid %s)", name, proc.pid)

    def stop(self, *_: object) -> None:
        """Stop children newest first, escalating SIGINT → SIGTERM → SIGKILL; idempotent."""
        if self.stopping:
            return
        self.stopping = True
        # Newest first: the runner still reaches the server while it shuts down. SIGINT
        # first: it is what Ctrl-C delivers and what prefect's runner handles cleanly.
        for _name, proc in reversed(self.children):
            for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if proc.poll() is not None:
                    break
                _signal_group(proc, sig)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    continue
        # Whatever a child started and left behind (a flow run of a runner that died).
        left = stop_leftovers(self.settings.data_path)
        if left:
            log.warning("stopped %d processes the children left behind: %s", len(left), left)

    def watch(self) -> int:
        """Block until a child exits or a signal arrives; returns the exit code."""
        while not self.stopping:
            for name, proc in self.children:
                if proc.poll() is not None:
                    log.error("%s exited with %s; stopping", name, proc.returncode)
                    self.stop()
                    return 1
            time.sleep(0.5)
        return 0


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _wait_http(url: str, what: str, accept: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status in accept:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in accept:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up at {url} within {STARTUP_TIMEOUT:.0f}s")


async def _deployments_ready(api_url: str) -> None:
    names = [f"{f.name}/{DEPLOYMENT}" for f in FLOWS]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    # An explicit client: Prefect's settings were read at import, before this process
    # set PREFECT_API_URL, and would otherwise start an ephemeral server.
    async with PrefectClient(api_url) as client:
        for name in names:
            while True:
                try:
                    await client.read_deployment_by_name(name)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)


def run(settings: Settings) -> int:
    """Start server (unless PREFECT_API_URL is given), runner, reconcile and API.

    Refuses (2) a data dir another live supervisor holds, or a taken port; stops what an
    earlier, killed supervisor left running on the data dir first.
    """
    external_server = bool(os.environ.get("PREFECT_API_URL"))
    try:
        lock = claim_data_dir(
            settings.data_path,
            api=f"{settings.host}:{settings.api_port}",
            prefect=prefect_api_url(settings),
        )
    except DataDirBusy as exc:
        log.error("refusing to start: %s", exc)
        return 2
    with lock:
        left = stop_leftovers(settings.data_path)
        if left:
            log.warning(
                "stopped %d processes an earlier safehold run left on data dir %s: %s",
                len(left),
                settings.data_path,
                left,
            )
        taken = taken_ports(settings, external_server=external_server)
        if taken:
            log.error("refusing to start: %s", taken)
            return 2
        return _run(settings, external_server)


def taken_ports(settings: Settings, *, external_server: bool) -> str | None:
    """Which of the ports this start needs is already taken, or None."""
    wanted = [
        (settings.host, settings.api_port, "the API (SAFEHOLD_API_PORT)"),
        (settings.host, settings.manila_port, "the Manila API (SAFEHOLD_MANILA_PORT)"),
        (settings.host, settings.trove_port, "the Trove API (SAFEHOLD_TROVE_PORT)"),
    ]
    if not external_server:
        wanted.append((settings.prefect_host, settings.ui_port, "Prefect (SAFEHOLD_UI_PORT)"))
    for host, port, what in wanted:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                return f"port {port} on {host} for {what} is already in use"
    return None


def _run(settings: Settings, external_server: bool) -> int:
    sup = Supervisor(settings)
    os.environ.update(sup.env)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopper(sup))
    try:
        if not external_server:
            sup.spawn(
                "prefect-server",
                [
                    sys.executable,
                    "-m",
                    "deployments.prefect_server",
                    settings.prefect_host,
                    str(settings.ui_port),
                ],
                env=prefect_server_env(settings),
            )
        _wait_http(prefect_api_url(settings) + "/health", "Prefect server")
        if not external_server:
            # No process of an earlier tree is left: its unfinished runs can only be dead.
            asyncio.run(crash_orphaned_runs(prefect_api_url(settings)))
        asyncio.run(_ensure_limits(prefect_api_url(settings), settings))
        _migrate_catalog(settings)
        # The runner takes its flow-run processes down with it on PARENT_DIED.
        sup.spawn("runner", [sys.executable, "-m", "deployments.runner"], parent_died=PARENT_DIED)
        asyncio.run(_deployments_ready(prefect_api_url(settings)))
        asyncio.run(_submit_reconcile(prefect_api_url(settings)))
        sup.spawn("api", [sys.executable, "-m", "deployments.api_server"])
        _wait_http(f"http://{settings.host}:{settings.api_port}/", "API", accept=(300,))
        manila = f"http://{settings.host}:{settings.manila_port}/"
        _wait_http(manila, "Manila API", accept=(300,))
        _wait_http(f"http://{settings.host}:{settings.trove_port}/", "Trove API")
        _sync_policies(prefect_api_url(settings), settings)
        _announce(settings)
        return sup.watch()
    finally:
        sup.stop()


async def _ensure_limits(api_url: str, settings: Settings) -> None:
    # Created (or resized) here, before any run can ask for a slot with strict=True.
    async with PrefectClient(api_url) as client:
        await client.upsert_global_concurrency_limit_by_name(
            DATA_LIMIT, settings.max_data_operations
        )


def _migrate_catalog(settings: Settings) -> None:
    # Before the runner: the start-up reconcile run reads the catalog before the API
    # (which migrates too) is up; on a new data dir it would find no tables.
    engine = make_engine(settings.resolved_catalog_url())
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _sync_policies(api_url: str, settings: Settings) -> None:
    # After the API migrated the catalog; a failure must not keep the service down.
    try:
        asyncio.run(sync_policies(api_url, settings))
    except Exception as exc:
        log.error("policy schedules not synchronised at start-up: %r", exc)


async def _submit_reconcile(api_url: str) -> None:
    # Through the runner, so the repair shows in the Prefect UI like any operation.
    async with PrefectClient(api_url) as client:
        await arun_deployment(
            f"reconcile/{DEPLOYMENT}",
            client=client,
            timeout=0,
            flow_run_name="reconcile start-up",
        )


def _stopper(sup: Supervisor):  # type: ignore[no-untyped-def]
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        sup.stop()

    return handler


def _announce(settings: Settings) -> None:
    sys.stdout.write(
        f"Safehold is up.\n"
        f"  API (Cinder v3):  http://{settings.host}:{settings.api_port}/v3/\n"
        f"  API (Manila v2):  http://{settings.host}:{settings.manila_port}/v2/\n"
        f"  API (Trove v1.0): http://{settings.host}:{settings.trove_port}/v1.0/\n"
        f"  Prefect UI:       {prefect_api_url(settings).removesuffix('/api')}/\n"
        f"  auth:             {settings.auth_mode}\n"
        f"  data dir:         {settings.data_path}\n"
        f"Ctrl-C stops everything.\n"
    )
    sys.stdout.flush()
