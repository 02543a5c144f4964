"""Deleting a backup: everything under its own prefix, the manifest first."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from storage.layout import backup_prefix, manifest_key
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

# Deletes are small requests dominated by latency on S3; a few in parallel help a lot.
_DELETERS = 8


def delete_backup_objects(store: ObjectStore, *, backup_id: str) -> int:
    """Delete every object the backup owns; returns how many existed. Idempotent.

    The manifest goes first, so a half-deleted backup is never mistaken for a committed one;
    then everything listed under ``backups/<id>/`` (its segments and any garbage a failed
    write left). Segments of ancestors that this backup referenced are not touched; children
    referencing this backup's segments break, so callers delete leaves first.
    """
    key = manifest_key(backup_id)
    deleted = 0
    if store.exists(key):
        store.delete(key)
        deleted = 1
    keys = store.list(backup_prefix(backup_id))
    if keys:
        with ThreadPoolExecutor(min(_DELETERS, len(keys))) as pool:
            list(pool.map(store.delete, keys))
    deleted += len(keys)
    log.info("backup %s: deleted %d objects", backup_id, deleted)
    return deleted
