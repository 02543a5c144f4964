"""Volume flows: create (sparse file), manage (register an existing one), delete."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.hooks import VOLUME_HOOKS
from storage.catalog import volume_bytes


@flow(name="create-volume", **VOLUME_HOOKS)
async def create_volume(volume_id: str) -> None:
    """creating -> (sparse image file made) -> available."""
    volume = tasks.load_volume(volume_id)
    size = volume_bytes(volume)
    tasks.create_volume_file(volume.path, size)
    tasks.finish_volume_setup(volume_id, size)


@flow(name="manage-volume", **VOLUME_HOOKS)
async def manage_volume(volume_id: str) -> None:
    """managing -> (existing file or device measured) -> available."""
    volume = tasks.load_volume(volume_id)
    tasks.finish_volume_setup(volume_id, tasks.measure_device(volume.path))


@flow(name="delete-volume", **VOLUME_HOOKS)
async def delete_volume(volume_id: str) -> None:
    """deleting -> (file removed unless managed) -> row removed."""
    volume = tasks.load_volume(volume_id)
    if not volume.managed:
        # A managed volume's bytes belong to the operator: unmanaging never deletes them.
        tasks.delete_volume_file(volume.path)
    tasks.delete_volume_row(volume_id)
