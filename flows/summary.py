"""A backup's final summary as a Prefect table artifact (key ``backup-<id>``): what was
read, stored and reused, how long it took and at what rate. Published after commit."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from prefect.artifacts import acreate_table_artifact

log = logging.getLogger(__name__)
MB = 1_000_000


@dataclass(frozen=True)
class Summary:
    """What a committed backup moved. ``reused`` is data taken from the parent unstored."""

    source_bytes: int  # apparent size of what was backed up
    read_bytes: int
    stored_bytes: int
    reused_bytes: int
    seconds: float

    def row(self, backup_id: str) -> dict[str, str | int | float]:
        """The artifact's one row; throughput is of the apparent size."""
        rate = self.source_bytes / self.seconds / MB if self.seconds > 0 else 0.0
        return {
            "backup": backup_id,
            "source_bytes": self.source_bytes,
            "read_bytes": self.read_bytes,
            "stored_bytes": self.stored_bytes,
            "reused_bytes": self.reused_bytes,
            "seconds": round(self.seconds, 3),
            "throughput_mb_s": round(rate, 1),
        }


def since(started: float) -> float:
    """Seconds since a time.monotonic() reading."""
    return time.monotonic() - started


async def publish(kind: str, backup_id: str, summary: Summary) -> None:
    """Publish the summary; an artifact that cannot be written is logged, never fatal
    (the backup is committed already)."""
    try:
        await acreate_table_artifact(
            [summary.row(backup_id)],
            key=f"backup-{backup_id}",
            description=f"{kind} backup {backup_id}: final summary",
        )
    except Exception as exc:  # the backup stays available whatever the artifact does
        log.warning("%s backup %s: summary artifact not written: %r", kind, backup_id, exc)
