"""`safehold progress`: follow a backup's running operation with a progress bar."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

TERMINAL = frozenset({"available", "error", "error_deleting"})
POLL_SECONDS = 0.5


def fetch(api_url: str, project: str, backup_id: str, token: str) -> dict[str, Any] | None:
    """The backup's progress body, or None once the backup is gone (deleted)."""
    request = urllib.request.Request(
        f"{api_url}/v1/{project}/backups/{backup_id}/progress",
        headers={"X-Auth-Token": token, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            body: dict[str, Any] = json.load(resp)["progress"]
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def follow(api_url: str, project: str, backup_id: str, token: str) -> int:
    """Render a bar until the operation ends; exit code 0 unless it ended in an error."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task(f"backup {backup_id[:8]}", total=None)
        while True:
            body = fetch(api_url, project, backup_id, token)
            if body is None:
                bar.update(task, description=f"backup {backup_id[:8]} deleted")
                return 0
            label = f"{body['operation'] or 'backup'} {backup_id[:8]} ({body['status']})"
            bar.update(
                task,
                description=label,
                completed=body["bytes_done"],
                total=body["bytes_total"] or None,
            )
            if body["status"] in TERMINAL:
                failed = body["status"] != "available"
                reason = f": {body['fail_reason']}" if failed and body["fail_reason"] else ""
                bar.console.print(f"backup {backup_id} {body['status']}{reason}", markup=False)
                return 1 if failed else 0
            time.sleep(POLL_SECONDS)
