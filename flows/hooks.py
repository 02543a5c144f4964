"""Flow state hooks: whatever ends a run, the records it drove reach a terminal state.

For served runs, on_crashed and on_cancellation run in the runner process, not the
flow's: these hooks depend only on the run's parameters and a fresh catalog session.
"""

from __future__ import annotations

import logging
from typing import Any

from flows import context
from storage import catalog

log = logging.getLogger(__name__)


def _reason(flow_run: Any, state: Any) -> str:
    return catalog.run_end_reason(str(flow_run.id), state.type.value, state.message)


def backup_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the backup operation (and release its volumes) of a run that did not finish."""
    backup_id = flow_run.parameters["backup_id"]
    with context.session() as s:
        if catalog.fail_operation(session=s, backup_id=backup_id, reason=_reason(flow_run, state)):
            log.warning("backup %s: run %s ended %s", backup_id, flow_run.id, state.type.value)


def volume_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Fail the volume operation of a run that did not finish."""
    volume_id = flow_run.parameters["volume_id"]
    with context.session() as s:
        if catalog.fail_volume(session=s, volume_id=volume_id, reason=_reason(flow_run, state)):
            log.warning("volume %s: run %s ended %s", volume_id, flow_run.id, state.type.value)


BACKUP_HOOKS: dict[str, Any] = {
    "on_failure": [backup_run_ended],
    "on_crashed": [backup_run_ended],
    "on_cancellation": [backup_run_ended],
}
VOLUME_HOOKS: dict[str, Any] = {
    "on_failure": [volume_run_ended],
    "on_crashed": [volume_run_ended],
    "on_cancellation": [volume_run_ended],
}
