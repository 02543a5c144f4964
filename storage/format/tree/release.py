"""Deleting a tree backup: its manifest first, then the packs no remaining manifest needs.

Packs are shared along a share's chain (an incremental references its ancestors' packs),
so a pack is deleted with the last manifest that references it, whichever backup that is.
Every manifest lists all the packs it references, so deciding needs only the manifests of
the same share: delete the manifest, list the remaining ones, keep what they reference.
Concurrent deletes of two backups of a share are safe: each deletes its manifest before
listing, so a shared pack survives until the later of the two lists and sees neither.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from storage.errors import CorruptData, InvalidKey, ObjectNotFound
from storage.format.tree.manifest import read_pack_names
from storage.layout import (
    packs_prefix,
    parse_pack_name,
    parse_tree_manifest_key,
    tree_manifest_key,
    tree_manifests_prefix,
    validate_backup_id,
)
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

# Deletes are small requests dominated by latency on S3; a few in parallel help a lot.
_DELETERS = 8


def delete_tree_backup(store: ObjectStore, *, share_id: str, backup_id: str) -> int:
    """Delete the backup's manifest and the packs only it needed; returns objects deleted.

    Idempotent. Candidates are the packs the manifest references plus any pack named after
    the backup (leftovers of an uncommitted attempt); a candidate is deleted unless a
    remaining manifest of the share references it. If a remaining manifest cannot be
    read, every candidate is kept (never delete what a backup might need). A corrupt
    manifest of the backup itself is deleted; then only its own-named packs are candidates.
    """
    key = tree_manifest_key(share_id, validate_backup_id(backup_id))
    candidates: set[str] = set()
    try:
        candidates.update(read_pack_names(store, share_id=share_id, backup_id=backup_id))
    except ObjectNotFound:
        pass
    except CorruptData as exc:
        log.warning("tree backup %s: manifest unreadable (%s); deleting it anyway", backup_id, exc)
    deleted = 0
    if store.exists(key):
        store.delete(key)  # first: a half-deleted backup must never look committed
        deleted = 1
    existing = {k.rpartition("/")[2]: k for k in store.list(packs_prefix(share_id))}
    candidates.update(name for name in existing if _writer(name) == backup_id)
    referenced = _referenced_by_remaining(store, share_id)
    if referenced is None:
        log.warning(
            "tree backup %s: another manifest of share %s is unreadable; kept %d packs",
            backup_id,
            share_id,
            len(candidates),
        )
        return deleted
    doomed = [existing[name] for name in sorted(candidates - referenced) if name in existing]
    if doomed:
        with ThreadPoolExecutor(min(_DELETERS, len(doomed))) as pool:
            list(pool.map(store.delete, doomed))
    log.info(
        "tree backup %s: deleted %d objects (%d packs still referenced by other backups)",
        backup_id,
        deleted + len(doomed),
        len(candidates & referenced),
    )
    return deleted + len(doomed)


def _referenced_by_remaining(store: ObjectStore, share_id: str) -> set[str] | None:
    """Pack names the share's remaining manifests reference; None if one of them is
    unreadable (then nothing may be deleted safely)."""
    referenced: set[str] = set()
    for key in store.list(tree_manifests_prefix(share_id)):
        # The deleted manifest is listed again only if a retry re-committed it meanwhile:
        # then its packs are needed again, so it counts like any other.
        _share, other = parse_tree_manifest_key(key)
        try:
            referenced.update(read_pack_names(store, share_id=share_id, backup_id=other))
        except ObjectNotFound:
            continue  # deleted meanwhile
        except CorruptData as exc:
            log.warning("tree backup %s: manifest unreadable: %s", other, exc)
            return None
    return referenced


def _writer(name: str) -> str | None:
    """The id of the backup that wrote pack ``name``; None for a name no pack has."""
    try:
        return parse_pack_name(name)[0]
    except InvalidKey:
        return None
