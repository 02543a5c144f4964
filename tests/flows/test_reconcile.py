"""reconcile's repair pass over the whole catalog, against a stand-in Prefect client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.exceptions import ObjectNotFound
from sqlmodel import Session

from flows import reconcile
from storage import catalog
from storage.catalog import Volume


class _Client:
    """Stands in for the Prefect client: known runs are in the given state, others are gone."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    async def read_flow_run(self, run_id: uuid.UUID) -> Any:
        if str(run_id) not in self.states:
            raise ObjectNotFound(Exception("404"))
        state = SimpleNamespace(type=SimpleNamespace(value=self.states[str(run_id)]), message="")
        return SimpleNamespace(state=state)


def _volume(session: Session, tmp_path: Path, status: str) -> Volume:
    return catalog.create_volume(
        session=session,
        project_id="p",
        user_id="u",
        size_gb=1,
        volumes_dir=tmp_path,
        status=status,
    )


def test_repair_fails_orphans_and_leaves_live_or_fresh_rows(
    flow_catalog: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone_run, running_run = str(uuid.uuid4()), str(uuid.uuid4())
    # A backup whose run was deleted: the backup fails and its volume is released.
    held = _volume(flow_catalog, tmp_path, "available")
    backup = catalog.begin_backup(
        session=flow_catalog, project_id="p", user_id="u", volume_id=held.id
    )
    catalog.attach_flow_run(session=flow_catalog, record=backup, flow_run_id=gone_run)
    # A volume the API recorded but never submitted, long ago and just now.
    stale = _volume(flow_catalog, tmp_path, "creating")
    stale.updated_at = catalog.utcnow() - reconcile.GRACE - timedelta(minutes=1)
    flow_catalog.add(stale)
    flow_catalog.commit()
    fresh = _volume(flow_catalog, tmp_path, "creating")
    # A snapshot whose run is still going.
    snap = catalog.begin_snapshot(
        session=flow_catalog,
        project_id="p",
        user_id="u",
        volume_id=_volume(flow_catalog, tmp_path, "available").id,
        snapshots_dir=tmp_path,
    )
    catalog.attach_flow_run(session=flow_catalog, record=snap, flow_run_id=running_run)

    @asynccontextmanager
    async def client() -> AsyncIterator[_Client]:
        yield _Client({running_run: "RUNNING"})

    monkeypatch.setattr(reconcile, "get_client", client)
    assert asyncio.run(reconcile.repair_stuck_rows.fn()) == 2
    assert asyncio.run(reconcile.repair_stuck_rows.fn()) == 0  # idempotent

    for record in (backup, held, stale, fresh, snap):
        flow_catalog.refresh(record)
    assert (backup.status, backup.fail_reason) == (
        "error",
        f"flow run {gone_run} no longer exists",
    )
    assert held.status == "available"
    assert (stale.status, stale.fail_reason) == ("error", "operation was never submitted")
    assert (fresh.status, fresh.fail_reason) == ("creating", None)
    assert snap.status == "creating"
