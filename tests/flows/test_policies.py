"""Retry classification and state hooks, without a Prefect server."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from flows import hooks
from flows.registry import FLOWS
from flows.retry import retry_if_transient, retry_unless_refused
from storage import catalog
from storage.catalog import Volume
from storage.errors import CorruptData, InvalidStatus, LostOwnership, TransientStorageError


class _State:
    def __init__(self, exc: BaseException | None, type_: str = "FAILED", message: str = "") -> None:
        self.exc = exc
        self.data = exc
        self.type = SimpleNamespace(value=type_)
        self.message = message

    def result(self) -> Any:
        if self.exc is not None:
            raise self.exc
        return 1


def test_only_transient_errors_are_retried() -> None:
    assert retry_if_transient(None, None, _State(TransientStorageError("timeout")))
    assert not retry_if_transient(None, None, _State(CorruptData("bad checksum")))
    assert not retry_if_transient(None, None, _State(ValueError("bug")))
    assert not retry_if_transient(None, None, _State(None))


def test_catalog_tasks_retry_hiccups_but_never_a_refusal() -> None:
    assert retry_unless_refused(None, None, _State(OperationalError("SELECT", {}, Exception())))
    assert not retry_unless_refused(None, None, _State(LostOwnership("backup b is error")))
    assert not retry_unless_refused(None, None, _State(InvalidStatus("not deleting")))
    assert not retry_unless_refused(None, None, _State(None))


@pytest.mark.parametrize("state_type", ["FAILED", "CRASHED", "CANCELLED"])
def test_hook_leaves_backup_and_volume_terminal(
    flow_catalog: Session, volume: Volume, state_type: str
) -> None:
    b = catalog.begin_backup(session=flow_catalog, project_id="p", user_id="u", volume_id=volume.id)
    run = SimpleNamespace(id=uuid.uuid4(), parameters={"backup_id": b.id})
    hooks.backup_run_ended(None, run, _State(None, state_type, "worker died"))
    hooks.backup_run_ended(None, run, _State(None, state_type, "again"))  # idempotent
    flow_catalog.refresh(b)
    flow_catalog.refresh(volume)
    assert b.status == "error" and volume.status == "available"
    assert b.fail_reason == f"flow run {run.id} {state_type.lower()}: worker died"


# Flows that drive no record through a transitional status, so have nothing to fail
# (apply-retention's deletes are child runs of delete flows, each hooked itself).
UNHOOKED = {
    "reconcile",
    "rebuild-catalog",
    "collect-garbage",
    "apply-retention",
    "retention-sweep",
}


def test_every_served_flow_that_drives_records_is_hooked_for_every_bad_end() -> None:
    hooked = [f for f in FLOWS if f.name not in UNHOOKED]
    assert {f.name for f in FLOWS} >= UNHOOKED
    for served in hooked:
        ends = (served.on_failure_hooks, served.on_crashed_hooks, served.on_cancellation_hooks)
        assert all(len(hooks_) == 1 for hooks_ in ends), served.name
        assert ends[0] == ends[1] == ends[2], served.name


def test_volume_hook_fails_the_volume(flow_catalog: Session, tmp_path: Path) -> None:
    volume = catalog.create_volume(
        session=flow_catalog, project_id="p", user_id="u", size_gb=1, volumes_dir=tmp_path
    )
    run = SimpleNamespace(id=uuid.uuid4(), parameters={"volume_id": volume.id})
    hooks.volume_run_ended(None, run, _State(None, "CRASHED", "oom"))
    hooks.volume_run_ended(None, run, _State(None, "CRASHED", "again"))  # idempotent
    flow_catalog.refresh(volume)
    assert (volume.status, volume.fail_reason) == ("error", f"flow run {run.id} crashed: oom")


def test_hook_on_a_restore_keeps_the_backup_and_fails_the_target(
    flow_catalog: Session, volume: Volume, tmp_path: Path
) -> None:
    b = catalog.begin_backup(session=flow_catalog, project_id="p", user_id="u", volume_id=volume.id)
    catalog.finish_backup(session=flow_catalog, backup_id=b.id, object_count=1, stored_bytes=1)
    _, target = catalog.begin_restore(
        session=flow_catalog, backup_id=b.id, project_id="p", user_id="u", volumes_dir=tmp_path
    )
    run = SimpleNamespace(id=uuid.uuid4(), parameters={"backup_id": b.id})
    hooks.backup_run_ended(None, run, _State(None, "CANCELLED", "stopped"))
    flow_catalog.refresh(b)
    flow_catalog.refresh(target)
    assert b.status == "available"
    assert (target.status, target.fail_reason) == ("error", f"flow run {run.id} cancelled: stopped")
