"""Every flow Safehold serves, by the deployment name the API submits to."""

from __future__ import annotations

from typing import Any

from flows.backup import create_backup
from flows.cascade import delete_backup_tree
from flows.children import DEPLOYMENT
from flows.databases import (
    create_db_backup,
    create_db_instance,
    delete_db_backup,
    delete_db_backup_tree,
    delete_db_instance,
)
from flows.delete import delete_backup
from flows.garbage import collect_store_garbage
from flows.policies import run_policy
from flows.rebuild import rebuild_catalog
from flows.reconcile import reconcile
from flows.restore import restore_backup
from flows.retention import apply_retention, retention_sweep
from flows.share_backups import create_share_backup, delete_share_backup, restore_share_backup
from flows.shares import create_share, delete_share, manage_share
from flows.snapshots import create_snapshot, delete_snapshot
from flows.volumes import create_volume, delete_volume, manage_volume

FLOWS: tuple[Any, ...] = (
    create_backup,
    restore_backup,
    delete_backup,
    delete_backup_tree,
    create_volume,
    manage_volume,
    delete_volume,
    create_snapshot,
    delete_snapshot,
    reconcile,
    rebuild_catalog,
    collect_store_garbage,
    create_share,
    manage_share,
    delete_share,
    create_share_backup,
    restore_share_backup,
    delete_share_backup,
    create_db_instance,
    delete_db_instance,
    create_db_backup,
    delete_db_backup,
    delete_db_backup_tree,
    run_policy,
    apply_retention,
    retention_sweep,
)
__all__ = ["DEPLOYMENT", "FLOWS"]
