"""Client construction and polling helpers for the end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import requests
from cinderclient import client as cinder_client
from cinderclient.contrib.noauth import CinderNoAuthPlugin
from keystoneauth1 import session as ks_session
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

MIB = 1024 * 1024
TIMEOUT = 120.0
POLL = 0.1  # between reads of a record's status: cheap API calls, and every wait ends sooner
# The PostgreSQL password in the session service's datastore URL: trust auth ignores it,
# and it must appear in no log, response or flow-run parameter (test_databases).
DATASTORE_CANARY = "s3cr3t-canary-7f3a"


def datastore_env(mariadb_port: int) -> dict[str, str]:
    """The session service's datastores besides SQLite: this machine's PostgreSQL (with the
    canary password) and its MariaDB as reached through a proxy on ``mariadb_port``."""
    return {
        "SAFEHOLD_POSTGRESQL_URL": f"postgresql://postgres:{DATASTORE_CANARY}@127.0.0.1:5432",
        "SAFEHOLD_MARIADB_URL": f"mysql://root@127.0.0.1:{mariadb_port}",
    }


def cinder(url: str, user: str, project: str) -> Any:
    """python-cinderclient with the noauth plugin, as CLIENTS.md describes."""
    auth = CinderNoAuthPlugin(user_id=user, project_id=project, endpoint=url + "/v3")
    return cinder_client.Client("3.64", session=ks_session.Session(auth=auth))


def wait_for(get: Callable[[], Any], statuses: set[str], timeout: float = TIMEOUT) -> Any:
    """Poll get() until its .status is in statuses; fail on timeout with the last status."""
    deadline = time.monotonic() + timeout
    obj = get()
    while obj.status not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"{obj.id} stuck in {obj.status}, wanted {statuses}")
        time.sleep(POLL)
        obj = get()
    return obj


def write_mixed(path: Path, size: int, seed: int) -> None:
    """Fill the first `size` bytes with random, text and zero regions (reproducible)."""
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        offset = 0
        while offset < size:
            length = min(rng.choice([MIB // 2, MIB, 3 * MIB]) + rng.randrange(4096), size - offset)
            kind = rng.randrange(3)
            if kind == 0:
                data = rng.randbytes(length)
            elif kind == 1:
                line = f"line {offset} of some very compressible text\n".encode()
                data = (line * (length // len(line) + 1))[:length]
            else:
                data = bytes(length)
            os.pwrite(f.fileno(), data, offset)
            offset += length


def volume_with_data(admin: Any, size: int, seed: int) -> Any:
    """A new available 1 GiB volume whose first ``size`` bytes hold write_mixed data."""
    created = admin.volumes.create(size=1)
    volume = wait_for(lambda: admin.volumes.get(created.id), {"available"})
    write_mixed(Path(volume.metadata["safehold:path"]), size, seed=seed)
    return volume


def run_state(prefect_api: str, run_id: str) -> str:
    """The flow run's state type ("RUNNING", "CRASHED", ...), read from Prefect."""

    async def read() -> str:
        async with PrefectClient(prefect_api) as client:
            run = await client.read_flow_run(UUID(run_id))
            return run.state.type.value if run.state else "NONE"

    return asyncio.run(read())


def wait_run(prefect_api: str, run_id: str, states: set[str], timeout: float = 60) -> str:
    """Poll the run until its state is in ``states``; the state reached."""
    deadline = time.monotonic() + timeout
    state = run_state(prefect_api, run_id)
    while state not in states:
        assert time.monotonic() < deadline, f"run {run_id} still {state}"
        time.sleep(0.2)  # each read opens a Prefect client
        state = run_state(prefect_api, run_id)
    return state


def tagged_runs(prefect_api: str, *tags: str) -> list[Any]:
    """Flow runs carrying any of ``tags`` (runs are tagged `<kind>:<id>`), oldest first."""

    async def read() -> list[Any]:
        async with PrefectClient(prefect_api) as client:
            tagged = FlowRunFilter(tags=FlowRunFilterTags(any_=list(tags)))
            runs = await client.read_flow_runs(flow_run_filter=tagged)
            return sorted(runs, key=lambda run: run.created)

    return asyncio.run(read())


def backup_run_id(url: str, project: str, backup_id: str) -> str:
    """The flow run driving the backup's current (or last) operation, from /v1 progress."""
    resp = requests.get(
        f"{url}/v1/{project}/backups/{backup_id}/progress",
        headers={"X-Auth-Token": f"admin:{project}"},
        timeout=10,
    )
    return str(resp.json()["progress"]["flow_run_id"])


def allocated(path: Path) -> int:
    """Bytes actually allocated on disk for a file."""
    return os.stat(path).st_blocks * 512
