"""delete-backup-tree: delete a backup and all its descendants, leaves first.

Each member is deleted by the delete-backup flow called as a subflow, so the Prefect UI
shows one child run per backup nested under the tree's run. Members go strictly in the
given order (each after all its descendants): a backup's segments are deleted only when
no remaining backup can reference them.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow

from flows import context
from flows.delete import delete_backup
from flows.hooks import on_every_bad_end
from flows.ownership import current_runs
from storage import catalog

log = logging.getLogger(__name__)


def tree_run_ended(_flow: Any, flow_run: Any, state: Any) -> None:
    """Put every member this run still drives into error_deleting, with the reason."""
    reason = catalog.run_end_reason(str(flow_run.id), state.type.value, state.message)
    with context.session() as s:
        failed = catalog.fail_cascade(
            session=s,
            backup_ids=list(flow_run.parameters["backup_ids"]),
            flow_run_id=str(flow_run.id),
            reason=reason,
        )
    if failed:
        root = flow_run.parameters["backup_id"]
        log.warning("backup tree %s: run %s ended, left %s", root, flow_run.id, failed)


TREE_HOOKS = on_every_bad_end(tree_run_ended)


@flow(name="delete-backup-tree", **TREE_HOOKS)
async def delete_backup_tree(backup_id: str, backup_ids: list[str]) -> dict[str, int]:
    """Every member deleting -> deleted one by one in order (a child run each) -> rows gone.

    ``backup_ids`` is the plan (storage.catalog.plan_cascade): descendants before
    ancestors, ``backup_id`` (the root) last. The first failure stops the tree; the
    hooks leave the rest in error_deleting for a later cascade to finish.
    """
    objects = 0
    (tree_run,) = current_runs()
    for member in backup_ids:
        child = delete_backup.with_options(flow_run_name=f"delete-backup {member}")
        result = await child(backup_id=member, acting_for=tree_run)
        objects += result["objects_deleted"]
    log.info("backup tree %s: %d backups deleted", backup_id, len(backup_ids))
    return {"backups_deleted": len(backup_ids), "objects_deleted": objects}
