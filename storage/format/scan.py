"""Reading committed backups back out of the store: one by id, or every one by listing.

This is what import_record checks and what a catalog rebuild reads: a backup exists in
storage iff its manifest exists and verifies, and the manifest carries the catalog record
(docs/format.md §1, §3.2). The facts the manifest itself proves (id, parent, object
count, stored bytes) override whatever the record says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from storage.errors import CorruptData, InvalidKey, ObjectNotFound
from storage.format.manifest import Manifest
from storage.layout import (
    backup_id_of,
    is_manifest_key,
    manifest_key,
    manifest_keys_listing_prefix,
)
from storage.objects import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredBackup:
    """A committed backup as storage knows it: its manifest and the manifest's size."""

    manifest: Manifest
    manifest_bytes: int

    @property
    def backup_id(self) -> str:
        """The id the manifest commits."""
        return self.manifest.backup_id

    @property
    def object_count(self) -> int:
        """Objects the backup owns: its own segments plus the manifest."""
        own = sum(1 for ref in self.manifest.segments if ref.owner == self.backup_id)
        return own + 1

    @property
    def stored_bytes(self) -> int:
        """Bytes of the backup's own segments plus its manifest."""
        return self.manifest.stored_bytes() + self.manifest_bytes

    def record(self) -> dict[str, Any]:
        """The manifest's catalog record, corrected with what the manifest proves."""
        record = dict(self.manifest.record)
        record.update(
            id=self.backup_id,
            parent_id=self.manifest.parent_id,
            object_count=self.object_count,
            stored_bytes=self.stored_bytes,
        )
        return record


def read_committed(store: ObjectStore, backup_id: str) -> StoredBackup:
    """Read and verify a backup's manifest and its record's id.

    Raises ObjectNotFound (not committed, or deleted), InvalidKey (not a backup id),
    CorruptData (fails verification, or the record names another backup) and
    TransientStorageError (retry).
    """
    data = store.get(manifest_key(backup_id))
    manifest = Manifest.from_bytes(data)
    if manifest.backup_id != backup_id:
        raise CorruptData(f"manifest of {backup_id} names backup {manifest.backup_id}")
    if manifest.record.get("id") != backup_id:
        raise CorruptData(f"manifest of {backup_id} carries the record of another backup")
    return StoredBackup(manifest, len(data))


@dataclass
class StoreScan:
    """Every committed backup found in a store, and the manifests that could not be used."""

    backups: list[StoredBackup] = field(default_factory=list)
    # backup id -> why its manifest was skipped (corrupt, wrong record)
    unreadable: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """The catalog records of every committed backup found."""
        return [backup.record() for backup in self.backups]


def scan_store(store: ObjectStore) -> StoreScan:
    """List ``backups/``, read every manifest; idempotent, read-only.

    A manifest that fails verification is reported in ``unreadable``, not raised, so one
    damaged backup does not hide the others; one deleted while the scan runs is skipped.
    TransientStorageError propagates (the caller retries the whole scan).
    """
    scan = StoreScan()
    keys = [k for k in store.list(manifest_keys_listing_prefix()) if is_manifest_key(k)]
    log.info("scanning %s: %d manifests", store.url, len(keys))
    for key in keys:
        backup_id = backup_id_of(key)
        try:
            scan.backups.append(read_committed(store, backup_id))
        except ObjectNotFound:
            log.info("backup %s: manifest vanished during the scan (deleted)", backup_id)
        except (CorruptData, InvalidKey) as exc:
            log.warning("backup %s: manifest unusable: %s", backup_id, exc)
            scan.unreadable[backup_id] = str(exc)
    return scan
