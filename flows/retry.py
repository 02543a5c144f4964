"""The one retry policy of every task that touches storage."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from storage.errors import is_transient

RETRIES = 4
RETRY_DELAYS = exponential_backoff(backoff_factor=0.5)
RETRY_JITTER = 0.2


def retry_if_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only what storage.errors calls transient."""
    try:
        state.result()
    except Exception as exc:  # the state's own exception, re-raised for inspection
        return is_transient(exc)
    return False


STORAGE_TASK: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_if_transient,
}
