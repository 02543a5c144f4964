"""Volume flows: create (sparse file), manage (register an existing one), delete.

Each acts only while the volume is in its run's transition, driven by that run
(LostOwnership otherwise: the run stops without touching the file).
"""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import VOLUME_HOOKS
from flows.ownership import current_runs
from storage.catalog import VolumeStatus, volume_bytes
from storage.errors import LostOwnership

V = VolumeStatus


def _settled(volume_id: str) -> LostOwnership:
    return LostOwnership(f"volume {volume_id} was settled by another path before it finished")


@flow(name="create-volume", **VOLUME_HOOKS)
async def create_volume(volume_id: str) -> None:
    """creating -> (sparse image file made) -> available."""
    run_ids = current_runs()
    volume = tasks.claim_volume(volume_id, frozenset({V.CREATING}), run_ids)
    size = volume_bytes(volume)
    tasks.create_volume_file(volume.path, size)
    if not tasks.finish_volume_setup(volume_id, size, run_ids):
        raise _settled(volume_id)


@flow(name="manage-volume", **VOLUME_HOOKS)
async def manage_volume(volume_id: str) -> None:
    """managing -> (existing file or device measured) -> available."""
    run_ids = current_runs()
    volume = tasks.claim_volume(volume_id, frozenset({V.MANAGING}), run_ids)
    if not tasks.finish_volume_setup(volume_id, tasks.measure_device(volume.path), run_ids):
        raise _settled(volume_id)


@flow(name="delete-volume", **VOLUME_HOOKS)
async def delete_volume(volume_id: str) -> None:
    """deleting -> (file removed unless managed) -> row removed."""
    run_ids = current_runs()
    volume = tasks.claim_volume(volume_id, frozenset({V.DELETING}), run_ids)
    if not volume.managed:
        # A managed volume's bytes belong to the operator: unmanaging never deletes them.
        tasks.delete_volume_file(volume.path)
    tasks.delete_volume_row(volume_id, run_ids)
