"""Database names: one strict identifier pattern for every datastore, and its quoting."""

from __future__ import annotations

import re
from typing import Final

# At most 63 characters: PostgreSQL's identifier limit (MariaDB allows 64). Nothing that
# needs quoting to be safe, so names can also be file names and tool arguments.
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SHOWN: Final = 80


def checked_name(name: str, reserved: frozenset[str] = frozenset()) -> str:
    """``name`` unchanged if it is a plain identifier outside ``reserved`` (compared
    case-insensitively); raises ValueError otherwise."""
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        shown = repr(name)[:_SHOWN]
        raise ValueError(
            f"invalid database name {shown}: use a letter or underscore, then up to 62 "
            "letters, digits or underscores"
        )
    if name.lower() in reserved:
        raise ValueError(f"database name {name!r} is reserved by the server")
    return name


def quoted_pg(name: str) -> str:
    """A checked name as a PostgreSQL identifier ("name"); raises ValueError."""
    return '"' + checked_name(name).replace('"', '""') + '"'


def quoted_mariadb(name: str) -> str:
    """A checked name as a MariaDB identifier (`name`); raises ValueError."""
    return "`" + checked_name(name).replace("`", "``") + "`"


def mariadb_literal(name: str) -> str:
    """A checked name as a MariaDB string literal ('name'); raises ValueError."""
    # The pattern admits no quote or backslash, so nothing inside needs escaping.
    return "'" + checked_name(name) + "'"
