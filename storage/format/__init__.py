"""Backup format v1 for block volumes: zstd segments plus a manifest written last.

See docs/format.md for the byte-level specification. Public entry points: write_backup,
restore_backup, read_manifest, manifest_exists and delete_backup_objects.
"""

from __future__ import annotations

from storage.format.backup import BackupResult, check_geometry, write_backup
from storage.format.delete import delete_backup_objects
from storage.format.manifest import BlockEntry, Manifest, manifest_exists, read_manifest
from storage.format.progress import ProgressFn
from storage.format.restore import restore_backup
from storage.format.segment import SegmentRef

__all__ = [
    "BackupResult",
    "BlockEntry",
    "Manifest",
    "ProgressFn",
    "SegmentRef",
    "check_geometry",
    "delete_backup_objects",
    "manifest_exists",
    "read_manifest",
    "restore_backup",
    "write_backup",
]
