"""Backup list filters: exact keys for everyone, `key~` substring keys, admin-only columns.

Cinder's resource filters for backups are name, status and volume_id; `name~` etc. match
substrings (its "like" filters); admins may filter on any model column.
"""

from __future__ import annotations

from typing import Any, Final

from sqlmodel import col

from storage.catalog.models import Backup
from storage.errors import InvalidRequest

USER_KEYS: Final = frozenset({"name", "status", "volume_id"})
LIKE_KEYS: Final = frozenset(f"{key}~" for key in USER_KEYS)
# The catalog columns an admin may filter on as well (Cinder: any model column).
ADMIN_KEYS: Final = frozenset(
    {"project_id", "user_id", "parent_id", "snapshot_id", "container", "availability_zone"}
)
ALL_KEYS: Final = USER_KEYS | LIKE_KEYS | ADMIN_KEYS


def filter_clause(key: str, value: str) -> Any:
    """The WHERE clause of one filter; InvalidRequest for a key outside ALL_KEYS."""
    if key not in ALL_KEYS:
        raise InvalidRequest(f"Invalid filter keys: {key}")
    if key in LIKE_KEYS:
        # Case-insensitive on every backend (SQLite's LIKE is, PostgreSQL's is not);
        # autoescape keeps % and _ in the value literal.
        return col(getattr(Backup, key[:-1])).icontains(value, autoescape=True)
    return col(getattr(Backup, key)) == value
