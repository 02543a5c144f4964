"""The JSON-able catalog record of a backup, as carried in its manifest and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.catalog.models import Backup


def backup_record(backup: Backup) -> dict[str, Any]:
    """The backup row as plain JSON types (timestamps in ISO-8601 UTC)."""
    record: dict[str, Any] = {}
    for key, value in backup.model_dump().items():
        record[key] = value.isoformat() if isinstance(value, datetime) else value
    # Orchestration state is not part of the record: it means nothing after a restore
    # of the catalog from storage.
    for key in (
        "flow_run_id",
        "op_token",
        "progress_done",
        "progress_total",
        "temp_snapshot_path",
    ):
        record.pop(key, None)
    return record
