"""Garbage in the backup store: what no catalog row reads and no manifest commits.

Stored backups (``backups/<id>/``) fall in three groups once a listing is compared with
the ids the catalog's rows read (their ``data_id``):

- read by a row: kept, whatever their state (a running backup, an error backup whose
  delete will remove them);
- committed (a manifest exists) but read by no row: **unowned**. Never removed here: they
  are what a catalog rebuild brings back; they are reported so an operator can rebuild
  or delete them;
- neither committed nor read: **garbage** of a write whose row is gone (a run that went
  on after its row was deleted, a crash between removing a row and its data). Removed
  once its newest object is older than the grace period, so that a backup another
  catalog is writing into a shared store right now is never touched; younger garbage is
  reported as pending.

The listing is taken before the caller reads the row ids, so a row created meanwhile is
seen by the caller: its backup's objects cannot exist before its row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from storage.errors import InvalidKey
from storage.format.delete import delete_backup_objects
from storage.layout import backup_id_of, is_manifest_key, manifest_keys_listing_prefix
from storage.objects import ObjectStore

log = logging.getLogger(__name__)


@dataclass
class GarbageReport:
    """What one pass found and did, by stored-backup id."""

    removed: list[str] = field(default_factory=list)  # garbage past the grace (kept on a dry run)
    pending: list[str] = field(default_factory=list)  # garbage younger than the grace period
    unowned: list[str] = field(default_factory=list)  # committed, but no row reads it
    objects_removed: int = 0

    def counts(self) -> dict[str, int]:
        """The report as counters (flow results, CLI output)."""
        return {
            "removed": len(self.removed),
            "pending": len(self.pending),
            "unowned": len(self.unowned),
            "objects_removed": self.objects_removed,
        }


def stored_backups(store: ObjectStore) -> dict[str, list[str]]:
    """Every stored backup id with its keys, from one listing of ``backups/``."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in store.list(manifest_keys_listing_prefix()):
        try:
            grouped[backup_id_of(key)].append(key)
        except InvalidKey:
            log.warning("store %s: %s is not a backup's object; left alone", store.url, key)
    return dict(grouped)


def collect_garbage(
    store: ObjectStore,
    *,
    listing: dict[str, list[str]],
    read_ids: Collection[str],
    grace_seconds: float,
    now: float,
    dry_run: bool = False,
) -> GarbageReport:
    """Remove (unless ``dry_run``) the garbage in ``listing`` older than the grace period.

    ``read_ids`` are the stored-backup ids catalog rows read, read after ``listing`` was
    taken. Idempotent; raises StorageError (a transient one: retry the pass).
    """
    report = GarbageReport()
    for data_id in sorted(set(listing) - set(read_ids)):
        keys = listing[data_id]
        if any(is_manifest_key(key) for key in keys):
            report.unowned.append(data_id)
            continue
        age = now - max(store.modified(key) for key in keys)
        if age < grace_seconds:
            report.pending.append(data_id)
            continue
        report.removed.append(data_id)
        if not dry_run:
            report.objects_removed += delete_backup_objects(store, backup_id=data_id)
        log.warning(
            "store garbage %s: %d objects, %.0f s old, %s",
            data_id,
            len(keys),
            age,
            "would be removed" if dry_run else "removed",
        )
    return report
