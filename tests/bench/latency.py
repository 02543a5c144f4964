"""Orchestration latency of the full service: API POST -> flow body -> backup available."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from tests.bench import data
from tests.live import Service, running

PROJECT = "bench0000000000000000000000000001"
ROUNDS = 20
POLL = 0.05
TIMEOUT = 300.0


class Api:
    """Plain HTTP against the Cinder-style API as the admin of PROJECT."""

    def __init__(self, url: str, project: str = PROJECT) -> None:
        self.base = f"{url}/v3/{project}"
        self.http = requests.Session()
        self.http.headers.update(
            {"X-Auth-Token": f"admin:{project}", "Content-Type": "application/json"}
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _json(self.http.post(f"{self.base}/{path}", json=body, timeout=30))

    def get(self, path: str) -> dict[str, Any]:
        return _json(self.http.get(f"{self.base}/{path}", timeout=30))

    def wait(self, kind: str, obj_id: str, statuses: set[str]) -> tuple[dict[str, Any], float]:
        """Poll every POLL s until the object's status is in ``statuses``; (object, seconds)."""
        start = time.perf_counter()
        deadline = start + TIMEOUT
        while True:
            obj = self.get(f"{kind}s/{obj_id}")[kind]
            if obj["status"] in statuses:
                return obj, time.perf_counter() - start
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{kind} {obj_id} stuck in {obj['status']}")
            time.sleep(POLL)


def _json(resp: requests.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; otherwise an error naming the request and the body."""
    if not resp.ok:
        raise RuntimeError(
            f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:300]}"
        )
    result: dict[str, Any] = resp.json()
    return result


async def _flow_run_starts(prefect_api: str, backup_ids: list[str]) -> dict[str, datetime]:
    """start_time of each backup's create-backup run (tagged "backup:<id>"), by backup id."""
    tags = {f"backup:{b}": b for b in backup_ids}
    async with PrefectClient(prefect_api) as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=list(tags))),
            limit=200,
        )
    found: dict[str, datetime] = {}
    for run in runs:
        tag = next((t for t in run.tags if t in tags), None)
        if tag is not None and run.name.startswith("create-backup") and run.start_time:
            found[tags[tag]] = run.start_time
    return found


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "p90": statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0],
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def _volume_creates(api: Api, rounds: int) -> tuple[list[float], dict[str, Any]]:
    """Seconds from POST /volumes (1 GiB) to available, ``rounds`` times; the last volume."""
    seconds: list[float] = []
    volume: dict[str, Any] = {}
    for i in range(rounds):
        start = time.perf_counter()
        volume = api.post("volumes", {"volume": {"size": 1, "name": f"bench-latency-{i}"}})[
            "volume"
        ]
        volume, _ = api.wait("volume", volume["id"], {"available", "error"})
        seconds.append(time.perf_counter() - start)
        if volume["status"] != "available":
            raise RuntimeError(f"volume {volume['id']} ended in {volume['status']}")
    return seconds, volume


def measure(svc: Service, rounds: int = ROUNDS) -> dict[str, Any]:
    """``rounds`` 1 GiB volume creations, then ``rounds`` sequential full backups of one
    volume holding 1 MiB."""
    api = Api(svc.url)
    create_s, volume = _volume_creates(api, rounds)
    path = Path(volume["metadata"]["safehold:path"])
    with open(path, "r+b") as f:
        os.pwrite(f.fileno(), os.urandom(data.MIB), 0)

    posted: dict[str, datetime] = {}
    post_s: list[float] = []
    available_s: list[float] = []
    for _ in range(rounds):
        wall = datetime.now(UTC)
        start = time.perf_counter()
        backup = api.post("backups", {"backup": {"volume_id": volume["id"]}})["backup"]
        post_s.append(time.perf_counter() - start)
        posted[backup["id"]] = wall
        done, _ = api.wait("backup", backup["id"], {"available", "error"})
        available_s.append(time.perf_counter() - start)
        if done["status"] != "available":
            raise RuntimeError(f"backup {backup['id']} ended in {done['status']}")
        api.wait("volume", volume["id"], {"available", "error"})

    starts = asyncio.run(_flow_run_starts(svc.prefect_api, list(posted)))
    to_flow = [(starts[b] - posted[b]).total_seconds() for b in posted if b in starts]
    return {
        "rounds": rounds,
        "payload_bytes": data.MIB,
        "post_seconds": _summary(post_s),
        "post_to_flow_start_seconds": _summary(to_flow) if to_flow else None,
        "flow_runs_found": len(to_flow),
        "post_to_available_seconds": _summary(available_s),
        "volume_create_to_available_seconds": _summary(create_s),
    }


def run(workdir: Path) -> dict[str, Any]:
    """Start the service in ``workdir``, measure, stop it."""
    start = time.perf_counter()
    with running(workdir / "service") as svc:
        startup = time.perf_counter() - start
        result = measure(svc)
    result["service_startup_seconds"] = startup
    return result
