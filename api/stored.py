"""The API's synchronous reads of the backup store: is a stored backup committed?

Used where the API vouches for data it did not write: import_record, and an admin's
reset of a backup to `available`. Only the manifest is read and verified.
"""

from __future__ import annotations

import logging

from api.faults import Fault
from storage.errors import CorruptData, InvalidKey, ObjectNotFound, TransientStorageError
from storage.format.scan import StoredBackup, read_committed
from storage.layout import manifest_key
from storage.objects import open_store_from_settings
from storage.settings import Settings

logger = logging.getLogger(__name__)


def committed(settings: Settings, *, backup_id: str, data_id: str) -> StoredBackup:
    """The stored backup ``data_id`` that row ``backup_id`` reads; 400 unless its manifest
    exists and verifies, 503 when the store does not answer."""
    try:
        return read_committed(open_store_from_settings(settings), data_id)
    except ObjectNotFound:
        raise Fault(
            400,
            f"Invalid backup: the data of backup {backup_id} is not in the backup store "
            f"(no {manifest_key(data_id)}).",
        ) from None
    except (CorruptData, InvalidKey) as exc:
        raise Fault(
            400, f"Invalid backup: the stored data of backup {backup_id} is unusable: {exc}"
        ) from None
    except TransientStorageError as exc:
        logger.warning("backup %s: the store could not be read: %s", backup_id, exc)
        raise Fault(503, "The backup store is unavailable; nothing was changed.") from None
