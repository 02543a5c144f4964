"""The one retry policy of every task that touches storage."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from storage.errors import CatalogError, is_transient

RETRIES = 4
RETRY_DELAYS = exponential_backoff(backoff_factor=0.5)
RETRY_JITTER = 0.2


def retry_if_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only what storage.errors calls transient."""
    # The engine hands over Failed(data=<exception>). Reading .data directly works in
    # sync and async tasks alike; state.result() would return a coroutine in the latter.
    data = getattr(state, "data", None)
    return isinstance(data, BaseException) and is_transient(data)


def retry_unless_refused(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect retry condition of catalog tasks: retry a database hiccup, never a catalog
    refusal (LostOwnership, InvalidStatus, ...), which repeating cannot change."""
    data = getattr(state, "data", None)
    return isinstance(data, BaseException) and not isinstance(data, CatalogError)


STORAGE_TASK: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_if_transient,
}
