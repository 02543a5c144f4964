"""Rebuilding share backup rows from the records tree manifests carry.

Share backups need no parent order or dependent counts (each restores on its own), so a
missing row is simply inserted as available; rows that exist are left alone. Shares are
never invented: a rebuilt backup keeps the share_id it was made from, known or not, and
restores into any share from 2.91.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import ValidationError
from sqlmodel import Session, select

from storage.catalog.models import utcnow
from storage.catalog.rebuild import RebuildResult
from storage.catalog.share_models import ShareBackup, ShareBackupStatus

log = logging.getLogger(__name__)

# What a record contributes; status and run state describe the moment of writing.
_RECORD_FIELDS: Final = frozenset(
    {
        "id",
        "project_id",
        "user_id",
        "share_id",
        "parent_id",
        "name",
        "description",
        "size",
        "availability_zone",
        "host",
        "topic",
        "backup_type",
        "options",
        "created_at",
    }
)


def share_backup_from_record(record: Mapping[str, Any], summary: Mapping[str, Any]) -> ShareBackup:
    """An available row from a manifest's record and the manifest's own sizes
    (``summary``: size_bytes, object_count, stored_bytes, stats); ValidationError if unusable."""
    data = {key: value for key, value in record.items() if key in _RECORD_FIELDS}
    data.update(
        status=ShareBackupStatus.AVAILABLE,
        progress="100",
        updated_at=utcnow(),
        size_bytes=int(summary.get("size_bytes", 0)),
        object_count=int(summary.get("object_count", 0)),
        stored_bytes=int(summary.get("stored_bytes", 0)),
        stats=dict(summary.get("stats", {})),
    )
    return ShareBackup.model_validate(data)


def rebuild_share_backups(
    *, session: Session, found: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]
) -> RebuildResult:
    """Insert a row for each (record, summary) whose id has none; commits once; idempotent."""
    offered = list(found)
    existing = set(session.exec(select(ShareBackup.id)).all())
    inserted: list[str] = []
    invalid = 0
    for record, summary in offered:
        backup_id = str(record.get("id"))
        if backup_id in existing or backup_id in inserted:
            continue
        try:
            session.add(share_backup_from_record(record, summary))
        except ValidationError as exc:
            invalid += 1
            log.warning("share backup %s: record cannot be restored: %s", backup_id, exc)
            continue
        inserted.append(backup_id)
    session.commit()
    return RebuildResult(
        found=len(offered),
        inserted=len(inserted),
        existing=sum(1 for record, _ in offered if str(record.get("id")) in existing),
        invalid=invalid,
        orphans=0,
        inserted_ids=tuple(inserted),
    )
