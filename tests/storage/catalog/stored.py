"""Backups that really exist in a store, with rows as the create-backup flow leaves them."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

from sqlmodel import Session

from storage import catalog
from storage.catalog import Backup, BackupStatus
from storage.format import BackupResult, Manifest, write_backup
from storage.objects import ObjectStore
from storage.sources.block import create_volume_file

KIB = 1024
BLOCK = 64 * KIB
SEGMENT = 256 * KIB


def volume_file(path: Path, seed: int, size: int = 16 * BLOCK) -> Path:
    """A sparse image with some random blocks, reproducible from `seed`."""
    create_volume_file(path, size)
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        for index in rng.sample(range(size // BLOCK), 5):
            os.pwrite(f.fileno(), rng.randbytes(BLOCK), index * BLOCK)
    return path


def add_row(
    session: Session,
    *,
    project: str,
    volume_id: str,
    parent_id: str | None = None,
    status: str = BackupStatus.AVAILABLE,
    name: str | None = "b",
    metadata: dict[str, str] | None = None,
) -> Backup:
    """A backup row written directly (for catalog-only tests); counts it on its parent."""
    backup = Backup(
        id=str(uuid.uuid4()),
        project_id=project,
        user_id="u",
        volume_id=volume_id,
        parent_id=parent_id,
        name=name,
        description="desc",
        status=status,
        size=1,
        object_count=3,
        stored_bytes=12345,
        container="c",
        availability_zone="nova",
        meta=dict(metadata or {"k": "v"}),
    )
    session.add(backup)
    if parent_id is not None:
        parent = session.get(Backup, parent_id)
        assert parent is not None
        parent.num_dependent_backups += 1
        session.add(parent)
    session.commit()
    session.refresh(backup)
    return backup


def stored_backup(
    session: Session,
    store: ObjectStore,
    *,
    project: str,
    volume_id: str,
    source: Path,
    parent: Manifest | None = None,
) -> tuple[Backup, BackupResult]:
    """Insert a creating row, write its data with its record, then finish it available."""
    backup = add_row(
        session,
        project=project,
        volume_id=volume_id,
        parent_id=parent.backup_id if parent else None,
        status=BackupStatus.CREATING,
        name=f"backup of {volume_id[:8]}",
    )
    result = write_backup(
        store,
        backup_id=backup.id,
        source_path=source,
        record=catalog.backup_record(backup),
        block_size=BLOCK,
        segment_size=SEGMENT,
        parent=parent,
    )
    assert catalog.finish_backup(
        session=session,
        backup_id=backup.id,
        object_count=result.object_count,
        stored_bytes=result.stored_bytes,
    )
    session.refresh(backup)
    return backup, result
