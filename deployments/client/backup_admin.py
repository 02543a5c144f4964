"""`safehold backup` admin commands: export/import records, reset-status, force-delete."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from deployments.client.backup_follow import BACKUPS, BackupId, delete_probe
from deployments.client.context import state
from deployments.client.options import JsonOpt, WaitOpt

app = typer.Typer()

RECORD_KEY = "backup-record"


@app.command("export")
def export(ctx: typer.Context, backup_id: BackupId, as_json: JsonOpt = False) -> None:
    """Print a backup's record, to import it elsewhere (admin; `--json` for `import --file`)."""
    cli = state(ctx)
    body = cli.cinder.get(f"/backups/{backup_id}/export_record")
    cli.out(as_json).record(body, body[RECORD_KEY])


def read_record(source: str) -> dict[str, Any]:
    """The record in a file (`-`: stdin): `{"backup-record": {...}}` or its inside."""
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read a record from {source}: {exc}") from None
    record = data.get(RECORD_KEY, data) if isinstance(data, dict) else None
    if not isinstance(record, dict) or not {"backup_service", "backup_url"} <= set(record):
        raise typer.BadParameter(f"{source} holds no backup_service and backup_url")
    return {"backup_service": record["backup_service"], "backup_url": record["backup_url"]}


@app.command("import")
def import_(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="The record's backup_service.")] = None,
    url: Annotated[str | None, typer.Argument(help="The record's backup_url.")] = None,
    source: Annotated[
        str | None, typer.Option("--file", help="Read the exported record here (- for stdin).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a backup record; the backup is available at once (admin)."""
    cli = state(ctx)
    if source is not None:
        record = read_record(source)
    elif service and url:
        record = {"backup_service": service, "backup_url": url}
    else:
        raise typer.BadParameter("give BACKUP_SERVICE BACKUP_URL, or --file")
    body = cli.cinder.post("/backups/import_record", {RECORD_KEY: record})
    cli.out(as_json).record(body, body["backup"])


@app.command("reset-status")
def reset_status(
    ctx: typer.Context,
    backup_id: BackupId,
    status: Annotated[str, typer.Argument(help="available or error.")],
    as_json: JsonOpt = False,
) -> None:
    """Set a backup's status by force, ending its operation (admin)."""
    BACKUPS.reset_status(state(ctx), backup_id, status, as_json)


@app.command("force-delete")
def force_delete(
    ctx: typer.Context, backup_id: BackupId, wait: WaitOpt = False, as_json: JsonOpt = False
) -> None:
    """Delete a backup whatever its status (admin)."""
    cli = state(ctx)
    body = BACKUPS.action(cli, backup_id, {"os-force_delete": {}})
    BACKUPS.deleted(cli, body, backup_id, wait, as_json, probe=delete_probe(cli, backup_id))
