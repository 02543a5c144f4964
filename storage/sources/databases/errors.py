"""The errors of database instances, and the one way their reasons are built.

    DatastoreError              a datastore operation failed (``reason`` says why)
    ├── DatabaseExists          create_database found the name taken
    ├── DatabaseNotFound        the operation needs a database that is not there
    ├── DumpFailed              the dump tool (or SQLite's backup) failed
    ├── RestoreFailed           the restore tool refused the dump, or it is not a database
    └── ServerUnavailable       the server cannot be reached now (also a TransientStorageError)

Every reason is built by ``reason_from``: the tail of what a tool or driver said, with
passwords masked, so that a reason can be shown to users and logged as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from storage.errors import SafeholdError, TransientStorageError

MASK = "***"
_TAIL_LINES = 3
_TAIL_CHARS = 400
# Credentials that tools may echo on their own: URL user info and conninfo keywords.
_URL_USERINFO = re.compile(r"(?P<keep>://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_SETTING = re.compile(r"(?P<keep>password\s*[=:]\s*)\S+", re.IGNORECASE)


class DatastoreError(SafeholdError):
    """A datastore operation failed; ``reason`` is short and never holds a password."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DatabaseExists(DatastoreError):
    """The database to create exists already."""


class DatabaseNotFound(DatastoreError):
    """The database the operation needs does not exist."""


class DumpFailed(DatastoreError):
    """Taking the dump failed (the tool exited non-zero, or SQLite's backup failed)."""


class RestoreFailed(DatastoreError):
    """Loading the dump failed (the tool exited non-zero, or the data is not a database)."""


class ServerUnavailable(DatastoreError, TransientStorageError):
    """The server did not answer (refused, timed out, starting up); retrying may help."""


def scrubbed(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every non-empty secret and any URL or conninfo password masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(rf"\g<keep>{MASK}@", text)
    return _PASSWORD_SETTING.sub(rf"\g<keep>{MASK}", text)


def reason_from(prefix: str, detail: str, secrets: Iterable[str | None] = ()) -> str:
    """``prefix: <last lines of detail>``, scrubbed; the detail may be empty."""
    # Scrub the whole text before cutting it: a cut could split a password, and the
    # half left over would no longer match.
    lines = [line.strip() for line in scrubbed(detail, secrets).splitlines() if line.strip()]
    tail = " / ".join(lines[-_TAIL_LINES:])
    if len(tail) > _TAIL_CHARS:
        tail = "..." + tail[-_TAIL_CHARS:]
    prefix = scrubbed(prefix, secrets)
    return f"{prefix}: {tail}" if tail else prefix
