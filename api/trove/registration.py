"""Trove's `restore_from`: register a database backup whose data is already in the store.

The location is a `locationRef` this service gave out: `<store URL>/databases/<instance
id>/manifests/<backup id>`. The manifest (the commit point) must exist and verify; the
backup keeps its id, since its objects are keyed by it. Another project's backup is not
found, unless the caller is an admin.
"""

from __future__ import annotations

from typing import Any

from api.auth import Context
from api.faults import Fault
from api.trove.datastores import datastores, version_of
from api.trove.views import version_id
from storage.errors import CorruptData, InvalidKey, ObjectNotFound
from storage.format import tree
from storage.format.namespace import NamespacedStore
from storage.format.tree.stream import stream_chunks
from storage.layout import validate_backup_id, validate_share_id
from storage.objects import open_store_from_settings
from storage.settings import Settings

SPACE = "databases"


def parse_location(settings: Settings, location: str) -> tuple[str, str]:
    """(instance id, backup id) of a locationRef of this store; 400 for anything else."""
    prefix = f"{settings.resolved_backup_url().rstrip('/')}/{SPACE}/"
    if not location.startswith(prefix):
        raise Fault(400, "remote_location is not a backup location of this service's store.")
    parts = location[len(prefix) :].split("/")
    try:
        if len(parts) != 3 or parts[1] != "manifests":
            raise InvalidKey("not a manifest key")
        return validate_share_id(parts[0]), validate_backup_id(parts[2])
    except InvalidKey:
        raise Fault(400, "remote_location does not name a database backup.") from None


def read_registration(settings: Settings, context: Context, spec: dict[str, Any]) -> dict[str, Any]:
    """What the catalog row of a registered backup needs, read from its verified manifest;
    400 for a bad request, 404 when there is no such backup (or it is another project's)."""
    location = spec.get("remote_location")
    if not isinstance(location, str):
        raise Fault(400, "restore_from needs remote_location.")
    owner_id, backup_id = parse_location(settings, location)
    store = NamespacedStore(open_store_from_settings(settings), SPACE)
    try:
        manifest = tree.read_tree_manifest(store, share_id=owner_id, backup_id=backup_id)
        stream_chunks(manifest)
    except ObjectNotFound:
        raise Fault(404, f"No backup is stored at {location}.") from None
    except CorruptData as exc:
        raise Fault(400, f"The backup at {location} is not usable: {exc}") from None
    record = manifest.record
    if not context.is_admin and record.get("project_id") != context.project_id:
        raise Fault(404, f"No backup is stored at {location}.")
    kind = str(record.get("datastore", ""))
    store_of_kind = datastores(settings).get(kind)
    if store_of_kind is None:
        raise Fault(400, f"The backup is of datastore {kind!r}, which is not configured.")
    version = version_of(store_of_kind)
    if version is None:
        raise Fault(503, f"The {kind} server cannot be reached; nothing was registered.")
    wanted = spec.get("local_datastore_version_id")
    if wanted not in (None, version_id(kind, version), version):
        raise Fault(400, f"local_datastore_version_id {wanted} is not {kind} {version}.")
    return {
        "backup_id": backup_id,
        "owner_id": owner_id,
        "datastore": kind,
        "version": version,
        "size_bytes": manifest.size_bytes,
    }
