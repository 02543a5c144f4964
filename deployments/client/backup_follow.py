"""A Cinder volume backup: its resource, and following its operation by /v1's byte progress."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from deployments.client.context import Cli
from deployments.client.http import Api
from deployments.client.resources import Resource
from deployments.client.waiting import Meter, Probe, Reading, status_probe

BackupId = Annotated[str, typer.Argument(help="Backup id.")]
BACKUPS: Final = Resource(
    api=lambda cli: cli.cinder,
    path="/backups",
    key="backup",
    kind="backup",
    fields=("id", "name", "status", "volume_id", "size", "is_incremental", "fail_reason"),
)
MOVING: Final = frozenset({"creating", "restoring", "deleting"})
FAILED: Final = frozenset({"error", "error_deleting"})


def progress_probe(native: Api, backup_id: str, *, gone_ok: bool = False) -> Probe:
    """Bytes moved by the backup's operation, until it leaves creating/restoring/deleting."""

    def probe() -> Reading:
        body = native.find(f"/backups/{backup_id}/progress", "progress")
        if body is None:
            return Reading("deleted", finished=True, failed=not gone_ok, reason="it is gone")
        status = str(body["status"])
        return Reading(
            status,
            done=body.get("bytes_done"),
            total=body.get("bytes_total"),
            finished=status not in MOVING,
            failed=status in FAILED,
            reason=body.get("fail_reason"),
        )

    return probe


def follow_backup(cli: Cli, backup_id: str) -> Reading:
    """A live byte bar until the backup's current operation ends."""
    probe = progress_probe(cli.native, backup_id)
    return cli.follow(probe, kind="backup", rid=backup_id, meter=Meter.BYTES)


def delete_probe(cli: Cli, backup_id: str) -> Probe:
    """Until the backup is gone; a failure if it ends error_deleting."""
    return status_probe(
        lambda: cli.native.find(f"/backups/{backup_id}/progress", "progress"),
        ok=frozenset(),
        bad=frozenset({"error_deleting"}),
        gone_ok=True,
    )
