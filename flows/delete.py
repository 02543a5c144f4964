"""delete-backup: remove a backup's objects (unless another row reads them), then its row."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import BACKUP_HOOKS
from flows.ownership import current_runs


@flow(name="delete-backup", **BACKUP_HOOKS)
async def delete_backup(backup_id: str, acting_for: str | None = None) -> dict[str, int]:
    """deleting -> (manifest, then segments deleted) -> row removed; rerunnable.

    Refuses (InvalidStatus) while any backup still names this one as parent: children may
    reference its segments. A row already gone means an earlier run finished. The stored
    backup goes with the last row that reads it (storage.catalog.shared_data). Acts only
    while the row is deleting by this run, or by ``acting_for`` (the cascade run whose
    member this is): LostOwnership otherwise, before any object is deleted.
    """
    run_ids = current_runs(acting_for)
    release = tasks.plan_release(backup_id, run_ids)
    if release is None:
        return {"objects_deleted": 0}
    deleted = 0
    if not release.shared:
        deleted = await tasks.delete_backup_objects(release.data_id)
    tasks.finish_backup_delete(backup_id, run_ids)
    # Every other reader may have been deleted meanwhile, each seeing this row: the last
    # one out, asking after its own row is gone, deletes the data.
    if release.shared and tasks.is_unread(release.data_id):
        deleted = await tasks.delete_backup_objects(release.data_id)
    return {"objects_deleted": deleted}
