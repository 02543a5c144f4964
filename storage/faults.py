"""Test-only fault injection: an ObjectStore decorator that fails chosen calls.

A fault plan is a JSON object naming store methods::

    {"put": {"transient": 2}}
    {"put": {"after": 3, "permanent": 1}, "get": {"transient": 1}}
    {"put": {"delay_ms": 3000}}

For each named method, every call first sleeps ``delay_ms`` (default 0: a slow store, so
that tests can catch an operation mid-way). Then the first ``after`` calls (default 0)
pass through, the next ``transient`` calls raise TransientStorageError, the next
``permanent`` calls raise PermanentStorageError, and every later call passes through.
Faulty calls raise *before* touching the inner store. Calls are counted per process and
per plan file (with its content), so a retried task that reopens the store sees the
faults already spent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.errors import PermanentStorageError, StorageError, TransientStorageError

if TYPE_CHECKING:
    from storage.objects import ObjectStore

log = logging.getLogger(__name__)

METHODS = frozenset({"put", "get", "get_range", "exists", "list", "delete"})
_FIELDS = frozenset({"after", "transient", "permanent", "delay_ms"})


@dataclass(frozen=True)
class FaultSpec:
    """How one method misbehaves: pass ``after`` calls, then fail transient, then permanent."""

    after: int = 0
    transient: int = 0
    permanent: int = 0
    delay_ms: int = 0


@dataclass
class FaultPlan:
    """Per-method fault specs plus the per-process call counters they are checked against."""

    specs: dict[str, FaultSpec] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fault_for(self, method: str) -> StorageError | None:
        """Count one call of ``method`` (after its delay) and return the error to inject."""
        spec = self.specs.get(method)
        if spec is None:
            return None
        if spec.delay_ms:
            time.sleep(spec.delay_ms / 1000)
        with self.lock:
            n = self.calls[method]
            self.calls[method] += 1
        n -= spec.after
        if 0 <= n < spec.transient:
            return TransientStorageError(f"injected fault: transient {method} #{n + 1}")
        if 0 <= n - spec.transient < spec.permanent:
            return PermanentStorageError(f"injected fault: permanent {method}")
        return None


# Plans keyed by (path, content): reopening the store in the same process reuses counters.
_PLANS: dict[tuple[str, str], FaultPlan] = {}
_PLANS_LOCK = threading.Lock()


def parse_fault_plan(text: str) -> FaultPlan:
    """Build a fresh plan from JSON text; raises ValueError on unknown methods or fields."""
    raw: Any = json.loads(text) if text.strip() else {}
    if not isinstance(raw, dict):
        raise ValueError("a fault plan must be a JSON object")
    specs: dict[str, FaultSpec] = {}
    for method, spec in raw.items():
        if method not in METHODS or not isinstance(spec, dict) or not set(spec) <= _FIELDS:
            raise ValueError(f"bad fault plan entry {method!r}")
        specs[method] = FaultSpec(**{k: int(v) for k, v in spec.items()})
    return FaultPlan(specs=specs)


def load_fault_plan(path: Path) -> FaultPlan:
    """Read the plan at ``path`` (missing file: no faults); same file and content, same plan."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FaultPlan()
    cache_key = (str(path.resolve()), text)
    with _PLANS_LOCK:
        plan = _PLANS.get(cache_key)
        if plan is None:
            plan = _PLANS[cache_key] = parse_fault_plan(text)
    return plan


class FaultyObjectStore:
    """Wraps an ObjectStore and raises the plan's injected faults before delegating."""

    def __init__(self, inner: ObjectStore, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.url = inner.url

    def _check(self, method: str, key: str) -> None:
        error = self.plan.fault_for(method)
        if error is not None:
            log.warning("injecting %s on %s %s", type(error).__name__, method, key)
            raise error

    def put(self, key: str, data: bytes | bytearray) -> None:
        """Inner put unless a fault is due."""
        self._check("put", key)
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        """Inner get unless a fault is due."""
        self._check("get", key)
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Inner get_range unless a fault is due."""
        self._check("get_range", key)
        return self.inner.get_range(key, start, length)

    def exists(self, key: str) -> bool:
        """Inner exists unless a fault is due."""
        self._check("exists", key)
        return self.inner.exists(key)

    def list(self, prefix: str) -> list[str]:
        """Inner list unless a fault is due."""
        self._check("list", prefix)
        return self.inner.list(prefix)

    def modified(self, key: str) -> float:
        """Inner modified (never faulted: it only ages garbage)."""
        return self.inner.modified(key)

    def delete(self, key: str) -> None:
        """Inner delete unless a fault is due."""
        self._check("delete", key)
        self.inner.delete(key)
