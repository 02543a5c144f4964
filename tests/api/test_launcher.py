"""PrefectLauncher against a stand-in Prefect client; RecordingLauncher's contract."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

import anyio
import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound

from api.launcher import DEPLOYMENT_NAMES, LaunchError, PrefectLauncher, RecordingLauncher


class FakePrefect:
    """The three PrefectClient calls the launcher makes, recorded."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.runs: dict[uuid.UUID, SimpleNamespace] = {}
        self.down = False

    async def read_deployment_by_name(self, name: str) -> SimpleNamespace:
        if self.down:
            raise httpx.ConnectError("connection refused")
        return SimpleNamespace(id=uuid.uuid4(), name=name)

    async def create_flow_run_from_deployment(
        self, deployment_id: uuid.UUID, **kwargs: Any
    ) -> SimpleNamespace:
        self.created.append(kwargs)
        run = SimpleNamespace(id=uuid.uuid4(), state=None)
        self.runs[run.id] = run
        return run

    async def read_flow_run(self, flow_run_id: uuid.UUID) -> SimpleNamespace:
        if flow_run_id not in self.runs:
            raise ObjectNotFound(http_exc=Exception("404"))
        return self.runs[flow_run_id]


def _launcher(fake: FakePrefect) -> PrefectLauncher:
    return PrefectLauncher(cast(PrefectClient, fake))


def test_submit_schedules_without_waiting() -> None:
    fake = FakePrefect()

    async def main() -> str:
        return await _launcher(fake).submit(
            DEPLOYMENT_NAMES["create_backup"],
            parameters={"backup_id": "b1"},
            idempotency_key="create-backup:b1:t1",
            run_name="create-backup b1",
        )

    run_id = anyio.run(main)
    [created] = fake.created
    assert created["parameters"] == {"backup_id": "b1"}
    assert created["idempotency_key"] == "create-backup:b1:t1"
    assert created["name"] == "create-backup b1"
    assert uuid.UUID(run_id) in fake.runs


def test_unreachable_prefect_is_a_launch_error() -> None:
    fake = FakePrefect()
    fake.down = True

    async def main() -> str:
        return await _launcher(fake).submit(
            "create-backup/safehold", parameters={}, idempotency_key="k", run_name="n"
        )

    with pytest.raises(LaunchError):
        anyio.run(main)


def test_run_state_reads_type_and_message() -> None:
    fake = FakePrefect()
    launcher = _launcher(fake)
    run_id = uuid.uuid4()
    fake.runs[run_id] = SimpleNamespace(
        id=run_id, state=SimpleNamespace(type=StateType.CRASHED, message="killed")
    )

    async def main() -> tuple[Any, Any]:
        return await launcher.run_state(str(run_id)), await launcher.run_state(str(uuid.uuid4()))

    state, missing = anyio.run(main)
    assert (state.type, state.message) == ("CRASHED", "killed")
    assert missing is None


def test_recording_launcher_dedupes_by_idempotency_key() -> None:
    launcher = RecordingLauncher()

    async def main() -> list[str]:
        return [
            await launcher.submit("d", parameters={}, idempotency_key=key, run_name="r")
            for key in ("a", "a", "b")
        ]

    first, again, other = anyio.run(main)
    assert first == again != other
    assert len(launcher.submissions) == 2
