"""Rebuilding backup rows from the records that manifests carry (after losing the catalog).

Rows that exist are left alone; missing ones are inserted as available, parents before
children, and num_dependent_backups is recounted from the parent links. Volumes are never
invented: a rebuilt backup keeps the volume_id it was made from, known or not.

One row per stored backup, under the stored backup's own id, and only when no row reads
it yet: a stored backup that some row reads — its own row, or a row imported under a new
id — is "existing". Rows sharing a stored backup (imports under a new id) are not
recreated: the store knows only the id a backup was written under, so after losing the
catalog such rows come back through their export records (import_record).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import update
from sqlmodel import Session, func, select

from storage.catalog.models import Backup, BackupStatus, utcnow

log = logging.getLogger(__name__)

# Cinder's names for the fields the catalog names differently (export_record records).
_ALIASES: Final = {"display_name": "name", "display_description": "description", "metadata": "meta"}
# What a record contributes to a row; everything else (status, orchestration state, the
# dependent count) describes the moment the manifest was written, not the backup now.
_RECORD_FIELDS: Final = frozenset(
    {
        "id",
        "project_id",
        "user_id",
        "volume_id",
        "snapshot_id",
        "parent_id",
        "name",
        "description",
        "size",
        "object_count",
        "stored_bytes",
        "container",
        "availability_zone",
        "meta",
        "service",
        "service_metadata",
        "encryption_key_id",
        "created_at",
        "data_timestamp",
    }
)


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did: counts, and the ids it inserted (parents first)."""

    found: int  # records offered (committed backups in the store)
    inserted: int  # rows re-created
    existing: int  # rows already in the catalog, left alone
    invalid: int  # records that cannot be a row (missing or malformed fields)
    orphans: int  # inserted rows whose parent is neither in the store nor in the catalog
    inserted_ids: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        """The counters as a plain dict (flow results, CLI output)."""
        return {
            "found": self.found,
            "inserted": self.inserted,
            "existing": self.existing,
            "invalid": self.invalid,
            "orphans": self.orphans,
        }


def backup_from_record(record: Mapping[str, Any]) -> Backup:
    """An available backup row from a manifest's record; pydantic ValidationError if unusable.

    Accepts the catalog's own names (backup_record) and Cinder's (export records).
    """
    data = {key: value for key, value in record.items() if key in _RECORD_FIELDS}
    for cinder_name, ours in _ALIASES.items():
        if ours not in data and cinder_name in record:
            data[ours] = record[cinder_name]
    if data.get("meta") is None:
        data["meta"] = {}
    data.update(status=BackupStatus.AVAILABLE, num_dependent_backups=0, updated_at=utcnow())
    return Backup.model_validate(data)


def _depths(rows: Mapping[str, Backup]) -> dict[str, int]:
    """Chain depth of each row among `rows` (0 = its parent is not among them)."""
    depths: dict[str, int] = {}
    for start in rows:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in rows and node not in depths and node not in path:
            path.append(node)
            node = rows[node].parent_id
        base = depths.get(node, -1) if node is not None else -1
        for offset, backup_id in enumerate(reversed(path), start=1):
            depths[backup_id] = base + offset
    return depths


def _recount(session: Session, backup_ids: Iterable[str]) -> None:
    """Set num_dependent_backups of each id to its number of child rows; no commit."""
    table: Any = Backup
    for backup_id in sorted(set(backup_ids)):
        children = session.exec(
            select(func.count()).select_from(Backup).where(Backup.parent_id == backup_id)
        ).one()
        session.exec(
            update(table).where(table.id == backup_id).values(num_dependent_backups=children)
        )


def rebuild_backups(*, session: Session, records: Iterable[Mapping[str, Any]]) -> RebuildResult:
    """Insert a row for every record whose id is neither a row's id nor read by a row;
    commits once.

    Idempotent: a second run with the same records inserts nothing. Records that cannot
    be rows are counted as invalid and skipped, so one bad manifest does not stop the rest.
    """
    offered = list(records)
    # Ids only, so the whole catalog fits in memory at any realistic size; avoids IN lists
    # longer than the database accepts.
    existing_ids = set(session.exec(select(Backup.id)).all())
    existing_ids |= set(session.exec(select(Backup.data_id)).all())
    pending: dict[str, Backup] = {}
    invalid = 0
    for record in offered:
        backup_id = str(record.get("id"))
        if backup_id in existing_ids or backup_id in pending:
            continue
        try:
            pending[backup_id] = backup_from_record(record)
        except ValidationError as exc:
            invalid += 1
            log.warning("backup %s: record cannot be restored: %s", backup_id, exc)
    depths = _depths(pending)
    ordered = sorted(pending.values(), key=lambda b: (depths[b.id], b.created_at, b.id))
    known = existing_ids | set(pending)
    orphans = 0
    for backup in ordered:
        if backup.parent_id is not None and backup.parent_id not in known:
            if session.get(Backup, backup.parent_id) is None:
                orphans += 1
                log.warning("backup %s: parent %s is lost", backup.id, backup.parent_id)
        session.add(backup)
        session.flush()  # parents reach the database before their children
    parents = {b.parent_id for b in ordered if b.parent_id is not None}
    _recount(session, {*pending, *parents})
    session.commit()
    result = RebuildResult(
        found=len(offered),
        inserted=len(ordered),
        existing=sum(1 for r in offered if str(r.get("id")) in existing_ids),
        invalid=invalid,
        orphans=orphans,
        inserted_ids=tuple(b.id for b in ordered),
    )
    log.info("catalog rebuild: %s", result.counts())
    return result
