"""Share flows: create (an empty tree), manage (register an existing one), delete/unmanage.

Each acts only while the share is in its run's transition, driven by that run
(LostOwnership otherwise: the run stops without touching the tree).
"""

from __future__ import annotations

from prefect import flow

from flows import share_tasks as tasks
from flows.hooks import SHARE_HOOKS
from flows.ownership import current_runs
from storage.catalog import ShareStatus
from storage.errors import LostOwnership

SH = ShareStatus


def _settled(share_id: str) -> LostOwnership:
    return LostOwnership(f"share {share_id} was settled by another path before it finished")


@flow(name="create-share", **SHARE_HOOKS)
async def create_share(share_id: str) -> None:
    """creating -> (empty directory made) -> available."""
    run_ids = current_runs()
    share = tasks.claim_share(share_id, frozenset({SH.CREATING}), run_ids)
    tasks.create_share_dir(share.path)
    if not tasks.finish_share_setup(share_id, run_ids):
        raise _settled(share_id)


@flow(name="manage-share", **SHARE_HOOKS)
async def manage_share(share_id: str) -> None:
    """manage_starting -> (the directory re-checked inside the share roots) -> available."""
    run_ids = current_runs()
    share = tasks.claim_share(share_id, frozenset({SH.MANAGE_STARTING}), run_ids)
    tasks.check_managed_dir(share.path)
    if not tasks.finish_share_setup(share_id, run_ids):
        raise _settled(share_id)


@flow(name="delete-share", **SHARE_HOOKS)
async def delete_share(share_id: str) -> None:
    """deleting -> (tree removed unless managed) -> row removed; unmanage_starting -> row
    removed, the tree kept. Backups of the share are kept either way (Manila)."""
    run_ids = current_runs()
    share = tasks.claim_share(share_id, frozenset({SH.DELETING, SH.UNMANAGE_STARTING}), run_ids)
    if share.status == SH.DELETING and not share.managed:
        # A managed tree belongs to the operator: deleting the share only forgets it.
        tasks.delete_share_dir(share.path)
    tasks.delete_share_row(share_id, run_ids)
