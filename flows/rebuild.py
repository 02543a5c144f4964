"""rebuild-catalog: re-create the rows of committed backups from their manifests.

For after the catalog database was lost or rolled back: every manifest in the store
carries its backup's record, so listing the store is enough. Rows that exist are left
alone, so a rerun is harmless. No record is held in a transitional status, hence no
state hooks: a failed run changes nothing but the rows it committed (all or none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import context
from flows.retry import STORAGE_TASK
from flows.tasks import CATALOG_TASK
from storage import catalog
from storage.catalog.share_rebuild import rebuild_share_backups
from storage.format.scan import StoreScan, scan_store
from storage.format.tree_scan import Found, scan_tree_store

ARTIFACT_KEY = "catalog-rebuild"
_LISTED = 50  # ids shown in the artifact; the counts are always complete


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def scan_backup_store() -> StoreScan:
    """List the store and read every manifest; read-only, retried when transient."""
    return await asyncio.to_thread(scan_store, context.store())


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def scan_tree_manifests() -> tuple[Found, dict[str, str]]:
    """(record, summary) of every readable tree manifest, and why others are unreadable."""
    return await asyncio.to_thread(scan_tree_store, context.store())


@task(**CATALOG_TASK)
def restore_share_rows(found: Found) -> catalog.RebuildResult:
    """Insert the share backup rows missing from the catalog; idempotent."""
    with context.session() as s:
        return rebuild_share_backups(session=s, found=found)


@task(**CATALOG_TASK)
def restore_rows(records: list[dict[str, Any]]) -> catalog.RebuildResult:
    """Insert the rows missing from the catalog, parents first; idempotent."""
    with context.session() as s:
        return catalog.rebuild_backups(session=s, records=records)


def summary_markdown(
    counts: Mapping[str, int], inserted: list[str], unreadable: Mapping[str, str]
) -> str:
    """The run's Markdown artifact: a table of counts, then what was inserted or skipped."""
    lines = ["# Catalog rebuild", "", "| backups | count |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in counts.items()]
    if inserted:
        lines += ["", f"## Re-created ({len(inserted)})", ""]
        lines += [f"- `{backup_id}`" for backup_id in inserted[:_LISTED]]
        if len(inserted) > _LISTED:
            lines.append(f"- … and {len(inserted) - _LISTED} more")
    if unreadable:
        lines += ["", f"## Unreadable manifests ({len(unreadable)})", ""]
        lines += [f"- `{bid}`: {why}" for bid, why in sorted(unreadable.items())[:_LISTED]]
    return "\n".join(lines) + "\n"


@flow(name="rebuild-catalog")
async def rebuild_catalog() -> dict[str, int]:
    """Scan the store, re-insert missing backup and share backup rows; the counts."""
    scanned = await scan_backup_store()
    result = restore_rows(scanned.records())
    trees, unreadable_trees = await scan_tree_manifests()
    shares = restore_share_rows(trees)
    unreadable = {**scanned.unreadable, **unreadable_trees}
    counts = {
        **result.counts(),
        "unreadable": len(unreadable),
        "share_backups_found": shares.found,
        "share_backups_inserted": shares.inserted,
    }
    inserted = [*result.inserted_ids, *shares.inserted_ids]
    await acreate_markdown_artifact(
        markdown=summary_markdown(counts, inserted, unreadable),
        key=ARTIFACT_KEY,
        description="Backup rows re-created from the backup store",
    )
    return counts
