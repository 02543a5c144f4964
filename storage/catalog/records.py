"""The JSON-able catalog record of a backup, as carried in its manifest and exports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import SQLModel

from storage.catalog.db_models import DbBackup
from storage.catalog.models import Backup
from storage.catalog.share_models import ShareBackup

# Orchestration state is not part of a record: it means nothing after a restore of the
# catalog from storage.
_RUN_STATE = ("flow_run_id", "op_token", "progress_done", "progress_total")


def backup_record(backup: Backup) -> dict[str, Any]:
    """The backup row as plain JSON types (timestamps in ISO-8601 UTC)."""
    return _plain(backup, (*_RUN_STATE, "temp_snapshot_path"))


def share_backup_record(backup: ShareBackup) -> dict[str, Any]:
    """The share backup row as plain JSON types, without its run state."""
    return _plain(backup, (*_RUN_STATE, "restore_share_id", "restore_progress"))


def db_backup_record(backup: DbBackup) -> dict[str, Any]:
    """The database backup row as plain JSON types, without its run state."""
    return _plain(backup, _RUN_STATE)


def _plain(row: SQLModel, drop: Iterable[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in row.model_dump().items():
        record[key] = value.isoformat() if isinstance(value, datetime) else value
    for key in drop:
        record.pop(key, None)
    return record
