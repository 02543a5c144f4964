"""Every flow Safehold serves, by the deployment name the API submits to."""

from __future__ import annotations

from typing import Any

from flows.backup import create_backup
from flows.delete import delete_backup
from flows.reconcile import reconcile
from flows.restore import restore_backup
from flows.volumes import create_volume, delete_volume, manage_volume

DEPLOYMENT = "safehold"
FLOWS: tuple[Any, ...] = (
    create_backup,
    restore_backup,
    delete_backup,
    create_volume,
    manage_volume,
    delete_volume,
    reconcile,
)
