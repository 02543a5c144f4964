"""Cinder backup records: export_record and import_record (FIELDS.md 3.6), admin only.

Neither starts a flow run. Export is a catalog read. Import is the API's one synchronous
read of the backup store: the manifest of the stored backup the record names must exist
and verify, and the record's parent row must read the data that backup was written
against, before the row is inserted, available (docs/api.md). The imported row may
carry a new id: it reads the named stored backup all the same.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from api.auth import require_admin
from api.cinder.schemas import BackupRecordBody
from api.cinder.views.backups import backup_summary
from api.deps import ContextDep, SessionDep, SettingsDep, ViewDep
from api.stored import committed
from storage import catalog
from storage.catalog import ImportedRecord
from storage.settings import Settings

logger = logging.getLogger(__name__)

# Mounted under /v3 and /v2 by api.cinder.trees.include_cinder.
router = APIRouter(prefix="/{project_id}/backups", tags=["backup records"])


@router.get("/{backup_id}/export_record")
def export_record(
    backup_id: str, context: ContextDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """200 `{"backup-record": {backup_service, backup_url}}`; 403 non-admin, 400 unless
    available, 404 unknown or another project's."""
    require_admin(context, "backup:export-import")
    service, url = catalog.export_backup(
        session=session,
        backup_id=backup_id,
        project_id=context.project_id,
        store_url=settings.resolved_backup_url(),
    )
    logger.info("backup %s: record exported", backup_id)
    return {"backup-record": {"backup_service": service, "backup_url": url}}


def _stored_parent(settings: Settings, record: ImportedRecord) -> str | None:
    """The parent the record's stored backup was written against; 400 unless its manifest
    exists and verifies, 503 when the store does not answer."""
    stored = committed(settings, backup_id=record.id, data_id=record.data_id())
    return stored.manifest.parent_id


@router.post("/import_record", status_code=201)
def import_record(
    body: BackupRecordBody,
    context: ContextDep,
    view: ViewDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """201 `{"backup": summary}`: the backup, available in the caller's project."""
    require_admin(context, "backup:backup-import")
    spec = body.backup_record
    record = catalog.decode_record(spec.backup_url)
    # Cheap catalog refusals first, so a duplicate never costs a store read.
    catalog.check_import(
        session=session,
        record=record,
        backup_service=spec.backup_service,
        project_id=context.project_id,
    )
    stored_parent = _stored_parent(settings, record)
    catalog.check_stored_data(session=session, record=record, stored_parent=stored_parent)
    backup = catalog.import_backup(
        session=session,
        record=record,
        backup_service=spec.backup_service,
        project_id=context.project_id,
        user_id=context.user_id,
    )
    return {"backup": backup_summary(backup, view)}
