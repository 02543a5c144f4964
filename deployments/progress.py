"""`safehold progress`: follow a backup's running operation with a progress bar.

The same bar as `safehold backup create --wait` (deployments.client), over HTTP only.
"""

from __future__ import annotations

import sys
from typing import Final

import httpx

from deployments.client.backup_follow import progress_probe
from deployments.client.errors import ClientError
from deployments.client.http import Api
from deployments.client.output import stderr_console
from deployments.client.waiting import Meter, watch

POLL_SECONDS: Final = 0.5


def follow(api_url: str, project: str, backup_id: str, token: str) -> int:
    """Render a bar until the operation ends; 0 unless it ended in an error (gone is 0)."""
    with httpx.Client(timeout=10) as client:
        native = Api(client, f"{api_url.rstrip('/')}/v1/{project}", {"X-Auth-Token": token})
        try:
            reading = watch(
                progress_probe(native, backup_id, gone_ok=True),
                label=f"backup {backup_id[:8]}",
                what=f"backup {backup_id}",
                meter=Meter.BYTES,
                console=stderr_console(),
                interval=POLL_SECONDS,
            )
        except ClientError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return exc.exit_code
    reason = f": {reading.reason}" if reading.failed and reading.reason else ""
    sys.stdout.write(f"backup {backup_id} {reading.status}{reason}\n")
    return 1 if reading.failed else 0
