"""`safehold rebuild-catalog`: the rebuild-catalog flow's work, run directly, no Prefect.

For when the Prefect server is down too (docs/operations.md): the same storage scan and
catalog insert the flow runs, against the configured catalog and backup store.
"""

from __future__ import annotations

import logging
from typing import TextIO

from sqlmodel import Session

from storage import catalog
from storage.format.scan import StoreScan, scan_store
from storage.objects import open_store_from_settings
from storage.settings import Settings

log = logging.getLogger(__name__)


def rebuild(settings: Settings) -> tuple[StoreScan, catalog.RebuildResult]:
    """Migrate the catalog, scan the store, insert the missing rows; idempotent."""
    engine = catalog.make_engine(settings.resolved_catalog_url())
    try:
        catalog.migrate(engine)  # a lost catalog may be an empty database
        scanned = scan_store(open_store_from_settings(settings))
        with Session(engine) as session:
            result = catalog.rebuild_backups(session=session, records=scanned.records())
    finally:
        engine.dispose()
    return scanned, result


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
