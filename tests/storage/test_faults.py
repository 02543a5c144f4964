"""Fault injection: plans, counting, and the decorator's pass-through."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from storage.errors import PermanentStorageError, TransientStorageError
from storage.faults import FaultyObjectStore, load_fault_plan, parse_fault_plan
from storage.objects import ObjectStore, open_store


@pytest.fixture
def inner() -> ObjectStore:
    return open_store(f"memory://faults-{uuid.uuid4().hex}")


def test_transient_faults_then_success(inner: ObjectStore) -> None:
    store = FaultyObjectStore(inner, parse_fault_plan('{"put": {"transient": 2}}'))
    for _ in range(2):
        with pytest.raises(TransientStorageError, match="injected fault"):
            store.put("k", b"v")
        assert not inner.exists("k")  # the fault fired before touching the inner store
    store.put("k", b"v")
    assert inner.get("k") == b"v"


def test_permanent_and_per_method(inner: ObjectStore) -> None:
    plan = parse_fault_plan('{"put": {"permanent": 1}, "get": {"transient": 1}}')
    store = FaultyObjectStore(inner, plan)
    with pytest.raises(PermanentStorageError, match="injected fault"):
        store.put("k", b"v")
    store.put("k", b"v")
    with pytest.raises(TransientStorageError):
        store.get("k")
    assert store.get("k") == b"v"
    assert store.exists("k")
    assert store.list("") == ["k"]
    store.delete("k")


def test_after_then_transient_then_permanent(inner: ObjectStore) -> None:
    plan = parse_fault_plan('{"delete": {"after": 1, "transient": 1, "permanent": 1}}')
    store = FaultyObjectStore(inner, plan)
    store.delete("a")
    with pytest.raises(TransientStorageError):
        store.delete("a")
    with pytest.raises(PermanentStorageError):
        store.delete("a")
    store.delete("a")


def test_missing_file_means_no_faults(tmp_path: Path, inner: ObjectStore) -> None:
    store = FaultyObjectStore(inner, load_fault_plan(tmp_path / "absent.json"))
    store.put("k", b"v")
    assert store.get_range("k", 0, 1) == b"v"


def test_counters_are_shared_per_process_and_file(tmp_path: Path, inner: ObjectStore) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"put": {"transient": 1}}')
    with pytest.raises(TransientStorageError):
        FaultyObjectStore(inner, load_fault_plan(path)).put("k", b"v")
    # A retry reopens the store: the spent fault does not fire again.
    FaultyObjectStore(inner, load_fault_plan(path)).put("k", b"v")
    # New content, new plan: counting starts over.
    path.write_text('{"put": {"transient": 1} }')
    with pytest.raises(TransientStorageError):
        FaultyObjectStore(inner, load_fault_plan(path)).put("k", b"v")


@pytest.mark.parametrize(
    "text", ["[1]", '{"rename": {"transient": 1}}', '{"put": {"sometimes": 1}}', '{"put": 3}']
)
def test_bad_plans_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fault_plan(text)


def test_delay_slows_every_call_of_the_method(inner: ObjectStore) -> None:
    store = FaultyObjectStore(inner, parse_fault_plan('{"put": {"delay_ms": 50}}'))
    started = time.monotonic()
    store.put("a", b"1")
    store.put("b", b"2")
    assert time.monotonic() - started >= 0.1
    assert store.get("a") == b"1" and store.plan.calls["get"] == 0  # get is not planned
