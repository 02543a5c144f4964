"""delete-backup: remove a backup's objects, then its row."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import BACKUP_HOOKS


@flow(name="delete-backup", **BACKUP_HOOKS)
async def delete_backup(backup_id: str) -> dict[str, int]:
    """deleting -> (manifest, then segments deleted) -> row removed; rerunnable.

    Refuses (InvalidStatus) while any backup still names this one as parent: children may
    reference its segments. A row already gone means an earlier run finished.
    """
    if not tasks.ready_to_delete(backup_id):
        return {"objects_deleted": 0}
    deleted = await tasks.delete_backup_objects(backup_id)
    tasks.finish_backup_delete(backup_id)
    return {"objects_deleted": deleted}
