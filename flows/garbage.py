"""collect-garbage: remove store data no catalog row reads and no manifest commits.

Reported first, removed after a grace period (storage.format.garbage); committed backups
no row reads are only reported (a catalog rebuild brings them back). The report is the
run's result and a Markdown artifact. No row is held, hence no state hooks.
"""

from __future__ import annotations

import asyncio
import time

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import context
from flows.retry import STORAGE_TASK
from flows.tasks import CATALOG_TASK
from storage import catalog
from storage.format.garbage import GarbageReport, collect_garbage, stored_backups

ARTIFACT_KEY = "store-garbage"
DEFAULT_GRACE_HOURS = 24.0
_LISTED = 50


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def list_stored_backups() -> dict[str, list[str]]:
    """Every stored backup's keys, from one listing; read-only, retried when transient."""
    return await asyncio.to_thread(stored_backups, context.store())


@task(**CATALOG_TASK)
def read_data_ids() -> set[str]:
    """The stored-backup ids the catalog's rows read."""
    with context.session() as s:
        return catalog.data_ids(session=s)


@task(cache_policy=NO_CACHE, **STORAGE_TASK)
async def remove_garbage(
    listing: dict[str, list[str]], read_ids: set[str], grace_hours: float, dry_run: bool
) -> GarbageReport:
    """Remove the garbage older than the grace period; idempotent."""
    return await asyncio.to_thread(
        collect_garbage,
        context.store(),
        listing=listing,
        read_ids=read_ids,
        grace_seconds=grace_hours * 3600,
        now=time.time(),
        dry_run=dry_run,
    )


def report_markdown(report: GarbageReport, *, dry_run: bool) -> str:
    """The run's artifact: counts, then the ids in each group."""
    title = "Store garbage (dry run)" if dry_run else "Store garbage"
    lines = [f"# {title}", "", "| stored backups | count |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in report.counts().items()]
    groups = (
        ("Removed" if not dry_run else "Would be removed", report.removed),
        ("Pending (younger than the grace period)", report.pending),
        ("Committed but read by no row (rebuild-catalog restores them)", report.unowned),
    )
    for heading, ids in groups:
        if ids:
            lines += ["", f"## {heading} ({len(ids)})", ""]
            lines += [f"- `{data_id}`" for data_id in ids[:_LISTED]]
    return "\n".join(lines) + "\n"


@flow(name="collect-garbage")
async def collect_store_garbage(
    grace_hours: float = DEFAULT_GRACE_HOURS, dry_run: bool = False
) -> dict[str, int]:
    """List the store, then read the rows (in that order), and remove old garbage."""
    listing = await list_stored_backups()
    read_ids = read_data_ids()
    report = await remove_garbage(listing, read_ids, grace_hours, dry_run)
    await acreate_markdown_artifact(
        markdown=report_markdown(report, dry_run=dry_run),
        key=ARTIFACT_KEY,
        description="Backup-store data no catalog row reads",
    )
    return report.counts()
