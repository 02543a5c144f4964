"""`safehold rebuild-catalog`: the rebuild-catalog flow's work, run directly, no Prefect.

For when the Prefect server is down too (docs/operations.md): the same storage scan and
catalog insert the flow runs, against the configured catalog and backup store.
"""

from __future__ import annotations

import logging
from typing import TextIO

from sqlmodel import Session

from storage import catalog
from storage.catalog.share_rebuild import rebuild_share_backups
from storage.format.scan import StoreScan, scan_store
from storage.format.tree_scan import scan_tree_store
from storage.objects import open_store_from_settings
from storage.settings import Settings

log = logging.getLogger(__name__)


def rebuild(settings: Settings) -> tuple[StoreScan, catalog.RebuildResult]:
    """Migrate the catalog, scan the store, insert the missing rows (block and share
    backups); idempotent. The share backups' unreadable manifests join the scan's."""
    engine = catalog.make_engine(settings.resolved_catalog_url())
    store = open_store_from_settings(settings)
    try:
        catalog.migrate(engine)  # a lost catalog may be an empty database
        scanned = scan_store(store)
        trees, unreadable_trees = scan_tree_store(store)
        with Session(engine) as session:
            result = catalog.rebuild_backups(session=session, records=scanned.records())
            shares = rebuild_share_backups(session=session, found=trees)
    finally:
        engine.dispose()
    scanned.unreadable.update(unreadable_trees)
    return scanned, _joined(result, shares)


def _joined(blocks: catalog.RebuildResult, shares: catalog.RebuildResult) -> catalog.RebuildResult:
    """One result for both kinds (share backups have no parents to lose)."""
    return catalog.RebuildResult(
        found=blocks.found + shares.found,
        inserted=blocks.inserted + shares.inserted,
        existing=blocks.existing + shares.existing,
        invalid=blocks.invalid + shares.invalid,
        orphans=blocks.orphans,
        inserted_ids=blocks.inserted_ids + shares.inserted_ids,
    )


def report(scanned: StoreScan, result: catalog.RebuildResult, out: TextIO) -> None:
    """Print the counts, the ids re-created and the manifests skipped."""
    counts = {**result.counts(), "unreadable": len(scanned.unreadable)}
    out.write("catalog rebuild: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
    for backup_id in result.inserted_ids:
        out.write(f"re-created backup {backup_id}\n")
    for backup_id, why in sorted(scanned.unreadable.items()):
        out.write(f"skipped backup {backup_id}: {why}\n")


def main(settings: Settings, out: TextIO) -> int:
    """Run the rebuild and print a summary; 1 when some backups could not be restored."""
    scanned, result = rebuild(settings)
    report(scanned, result, out)
    return 1 if scanned.unreadable or result.invalid else 0
