"""Tree backups (shares): content-defined chunks in packs, plus a manifest written last.

See docs/format.md, "Tree backups (shares)", for the normative description. Modules:
``entries`` (what is recorded per path), ``walk`` (sorted, fd-relative walking, xattrs,
sparse extents), ``chunking`` (FastCDC, sha256, zstd), ``packs`` (pack writer/reader),
``manifest`` (encode/decode/verify), ``table`` and ``pipeline`` (the backup's chunk table
and read pipeline), ``backup``, ``restore`` and ``release`` (delete); ``stream`` stores a
byte stream (a database dump) as the one file of a tree manifest.
"""

from __future__ import annotations

from storage.format.tree.backup import TreeBackupResult, write_tree_backup
from storage.format.tree.chunking import ChunkParams
from storage.format.tree.entries import Entry, Kind
from storage.format.tree.manifest import (
    TreeManifest,
    TreeStats,
    list_tree_manifests,
    read_tree_manifest,
    tree_manifest_exists,
)
from storage.format.tree.release import delete_tree_backup
from storage.format.tree.restore import restore_tree_backup
from storage.format.tree.stream import (
    DATABASE_CHUNKING,
    ByteStream,
    StreamBackupResult,
    iter_stream,
    write_stream_backup,
)

__all__ = [
    "DATABASE_CHUNKING",
    "ByteStream",
    "ChunkParams",
    "Entry",
    "Kind",
    "StreamBackupResult",
    "TreeBackupResult",
    "TreeManifest",
    "TreeStats",
    "delete_tree_backup",
    "iter_stream",
    "list_tree_manifests",
    "read_tree_manifest",
    "restore_tree_backup",
    "tree_manifest_exists",
    "write_stream_backup",
    "write_tree_backup",
]
