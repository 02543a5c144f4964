"""Reading every committed tree manifest of a store, for a catalog rebuild."""

from __future__ import annotations

from typing import Any

from storage.errors import PermanentStorageError
from storage.format import tree
from storage.objects import ObjectStore

# (the manifest's catalog record, its own sizes: size_bytes, object_count, stored_bytes, stats)
Found = list[tuple[dict[str, Any], dict[str, Any]]]


def scan_tree_store(store: ObjectStore) -> tuple[Found, dict[str, str]]:
    """(record, summary) of every readable tree manifest, and why the others are
    unreadable (by backup id); read-only; transient store errors propagate."""
    found: Found = []
    unreadable: dict[str, str] = {}
    for share_id, backup_id in tree.list_tree_manifests(store):
        try:
            manifest = tree.read_tree_manifest(store, share_id=share_id, backup_id=backup_id)
        except PermanentStorageError as exc:  # corrupt or gone meanwhile: report, go on
            unreadable[backup_id] = str(exc)
            continue
        summary = {
            "size_bytes": manifest.size_bytes,
            "object_count": manifest.stats.packs_written + 1,
            "stored_bytes": manifest.stats.stored_bytes,
            "stats": manifest.stats.as_dict(),
        }
        found.append((dict(manifest.record), summary))
    return found, unreadable
