"""The error tree of everything under storage/, and the one retry classifier.

    SafeholdError
    ├── StorageError                  object store and backup format
    │   ├── TransientStorageError     may succeed if retried (timeouts, 5xx, throttling)
    │   └── PermanentStorageError     retrying will not help
    │       ├── ObjectNotFound        the key does not exist
    │       ├── InvalidKey            a key broke the layout rules
    │       ├── CorruptData           checksum, magic or version mismatch
    │       └── Stopped               told to stop (its run ended or lost its row)
    └── CatalogError                  catalog rows and their lifecycle
        ├── RecordNotFound            no such row (or not visible to the project)
        ├── InvalidStatus             the row is not in a status that allows the change
        ├── InvalidRequest            the request contradicts the catalog (sizes, parents, ...)
        └── LostOwnership             the row left the transition this flow run drives

Foreign exceptions (OSError, botocore, aiohttp) are translated into this tree at the
object-store edge only (storage/objects.py); nothing above that edge sees them.
"""

from __future__ import annotations


class SafeholdError(Exception):
    """Root of every error Safehold raises on purpose."""


class StorageError(SafeholdError):
    """A failure of the object store or of the backup format."""


class TransientStorageError(StorageError):
    """A failure that may go away when the same call is repeated."""


class PermanentStorageError(StorageError):
    """A failure that repeating the call will not cure."""


class ObjectNotFound(PermanentStorageError):
    """The object key does not exist in the store."""


class InvalidKey(PermanentStorageError):
    """An object key is not relative, contains '..' or leaves the allowed alphabet."""


class CorruptData(PermanentStorageError):
    """Stored bytes failed a checksum, magic-number or format-version check."""


class Stopped(PermanentStorageError):
    """Data movement stopped at a block boundary because it was told to (no retry)."""


class CatalogError(SafeholdError):
    """A catalog operation was refused."""


class RecordNotFound(CatalogError):
    """The row does not exist, or belongs to another project."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id} could not be found.")
        self.kind = kind
        self.record_id = record_id


class InvalidStatus(CatalogError):
    """The row's current status does not allow the requested change."""


class ResourceBusy(InvalidStatus):
    """Another operation holds the resource now (Manila's 409): retry once it ends."""


class InvalidRequest(CatalogError):
    """The request is inconsistent with the catalog (size, parent, ownership)."""


class LostOwnership(CatalogError):
    """A flow run's row was settled, reset or taken over: the run stops, touching nothing."""


def is_transient(exc: BaseException) -> bool:
    """Return True when repeating the failed call may succeed; the one retry classifier."""
    return isinstance(exc, TransientStorageError)
