"""Progress of a real backup: API fields, the Prefect progress artifact, the CLI bar."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.limits import DATA_LIMIT
from tests.e2e.helpers import MIB, cinder, wait_for, write_mixed
from tests.live import Service

pytestmark = pytest.mark.e2e
PROJECT = "prog0000000000000000000000000001"


def _artifacts(service: Service, flow_run_id: str) -> list[Any]:
    async def read() -> list[Any]:
        async with PrefectClient(service.prefect_api) as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )

    return asyncio.run(read())


def test_progress_is_visible_in_api_prefect_and_cli(service: Service) -> None:
    admin = cinder(service.url, "admin", PROJECT)
    vol = admin.volumes.create(size=1, name="progress")
    vol = wait_for(lambda: admin.volumes.get(vol.id), {"available"})
    write_mixed(Path(vol.metadata["safehold:path"]), 16 * MIB, seed=5)
    backup = admin.backups.create(vol.id, name="progress")

    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployments.cli",
            "progress",
            backup.id,
            "--project",
            PROJECT,
            "--url",
            service.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "available" in cli.stdout

    resp = requests.get(
        f"{service.url}/v1/{PROJECT}/backups/{backup.id}/progress",
        headers={"X-Auth-Token": f"admin:{PROJECT}"},
        timeout=10,
    )
    body = resp.json()["progress"]
    assert body["status"] == "available" and body["percent"] == 100.0
    assert body["bytes_done"] == body["bytes_total"] == 1024**3

    progress = [a for a in _artifacts(service, body["flow_run_id"]) if a.type == "progress"]
    assert progress and progress[-1].data == 100.0


def test_data_movement_is_bounded_by_a_prefect_limit(service: Service) -> None:
    async def read() -> Any:
        async with PrefectClient(service.prefect_api) as client:
            return await client.read_global_concurrency_limit_by_name(DATA_LIMIT)

    limit = asyncio.run(read())
    assert (limit.limit, limit.active) == (4, True)
    # Every earlier backup and restore of this session released its slot (one that a
    # scheduled run still holds is released when it ends).
    deadline = time.monotonic() + 60
    while limit.active_slots and time.monotonic() < deadline:
        time.sleep(0.5)
        limit = asyncio.run(read())
    assert limit.active_slots == 0
