"""Retry classification and state hooks, without a Prefect server."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session

from flows import hooks
from flows.retry import retry_if_transient
from storage import catalog
from storage.catalog import Volume
from storage.errors import CorruptData, TransientStorageError


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
