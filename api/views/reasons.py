"""What a failed operation's reason says to whom: admins read the detail, tenants a
stable message without host paths, bucket keys or exception text.

Reasons recorded by the flows' hooks, the API's repair and reconcile read
``flow run <id> <state>[: <Prefect's state message>]``; the message may carry a raised
exception's text. Tenants see the run id and state, and the kind of failure, taken from
the exception's class name (storage.errors); the log and admins keep the whole text.
"""

from __future__ import annotations

import re
from typing import Final

_RUN_REASON: Final = re.compile(r"^(flow run \S+ (?:failed|crashed|cancelled))(?::\s*(.*))?$", re.S)
# The first class name found in the message decides; order: most specific first.
_KINDS: Final = (
    ("LostOwnership", "the operation was ended by another request (an administrator)"),
    ("Stopped", "the operation was ended by another request (an administrator)"),
    ("ObjectNotFound", "backup data is missing from the backup store"),
    ("CorruptData", "stored backup data failed verification"),
    ("TransientStorageError", "the backup store did not answer in time"),
    ("InvalidKey", "a storage operation failed"),
    ("PermanentStorageError", "a storage operation failed"),
    ("StorageError", "a storage operation failed"),
    ("InvalidRequest", "the request was refused when the operation ran"),
    ("TimeoutError", "the operation timed out"),
)
_OTHER: Final = "an internal error; an administrator can read the details"


def shown_reason(reason: str | None, *, admin: bool) -> str | None:
    """The reason as the caller may read it; unchanged for admins and for reasons that
    carry no run message (the API's own, which hold no host details)."""
    if reason is None or admin:
        return reason
    match = _RUN_REASON.match(reason)
    if match is None or not match.group(2):
        return reason
    head, detail = match.group(1), match.group(2)
    if head.endswith("cancelled"):
        return head
    if head.endswith("crashed"):
        return f"{head}: the process running the operation stopped"
    kind = next((text for name, text in _KINDS if name in detail), _OTHER)
    return f"{head}: {kind}"
