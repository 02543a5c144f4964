"""Status follows the flow: a transitional row whose run ended badly is repaired on read.

Only rows in a transitional status are checked, so settled rows cost nothing. The
reconcile flow does the same on a schedule; this makes the API truthful in between.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, TypeVar

from sqlmodel import Session

from api.auth import Context, visible_project
from api.runs import Runs
from storage.catalog import (
    ENDED_BADLY,
    Backup,
    DbBackup,
    DbInstance,
    Row,
    Share,
    ShareBackup,
    Snapshot,
    Volume,
    driving_run,
    repair_after_run,
    run_end_reason,
)
from storage.catalog.kinds import is_transitional, kind_of
from storage.catalog.rows import get_owned

logger = logging.getLogger(__name__)

ENDED: Final = ENDED_BADLY | {"COMPLETED"}


R = TypeVar("R", Backup, Volume, Snapshot, Share, ShareBackup, DbInstance, DbBackup)


def settle(*, session: Session, runs: Runs, rows: Sequence[Row]) -> None:
    """Repair the transitional rows among ``rows`` whose driving run (their own, or the
    run of the row holding them: a backup holds its volume) failed, crashed or vanished."""
    watched: list[tuple[Row, str]] = []
    for row in rows:
        run_id = driving_run(session, row) if is_transitional(row) else None
        if run_id:  # not recorded yet: the API is still submitting it
            watched.append((row, run_id))
    if not watched:
        return
    states = runs.states({run_id for _, run_id in watched})
    for row, run_id in watched:
        if run_id not in states:
            continue  # unreadable: leave the row as the catalog has it
        state = states[run_id]
        if state is not None and state.type not in ENDED_BADLY:
            continue
        reason = run_end_reason(
            run_id,
            state.type if state is not None else None,
            state.message if state is not None else None,
        )
        if repair_after_run(session=session, record=row, reason=reason):
            logger.warning("%s %s: %s", kind_of(row).name, row.id, reason)


def settled(
    *, session: Session, runs: Runs, model: type[R], record_id: str, project_id: str | None
) -> R:
    """The row as its driving run left it (repaired if that run ended badly);
    RecordNotFound when missing or another project's (project_id None: any project's)."""
    row = get_owned(session, model, record_id, project_id)
    settle(session=session, runs=runs, rows=[row])
    return row


def visible_row(
    model: type[R], record_id: str, *, context: Context, session: Session, runs: Runs
) -> R:
    """What a show request reads: the row settled as above; RecordNotFound when missing or
    outside what the caller may see (its project; an admin sees every project's)."""
    project = visible_project(context)
    return settled(session=session, runs=runs, model=model, record_id=record_id, project_id=project)


def run_is_live(*, runs: Runs, run_id: str | None) -> bool:
    """Whether the run may still be working: True unless it is known to have ended (no
    id yet, or a state the orchestrator could not tell, counts as live)."""
    if run_id is None:
        return True  # the API records the id just after submitting: a run may exist
    states = runs.states({run_id})
    if run_id not in states:
        return True
    state = states[run_id]
    return state is not None and state.type not in ENDED
