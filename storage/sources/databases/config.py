"""Where a datastore server lives and how to log in to it: ``ServerConfig``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SQLITE: Final = "sqlite"
POSTGRESQL: Final = "postgresql"
MARIADB: Final = "mariadb"
TYPES: Final = (SQLITE, POSTGRESQL, MARIADB)
ALIASES: Final = {"mysql": MARIADB}
DEFAULT_PORTS: Final = {POSTGRESQL: 5432, MARIADB: 3306}
DEFAULT_USERS: Final = {POSTGRESQL: "postgres", MARIADB: "root"}
# Host and user reach option files and tool arguments: no blanks or control characters.
_PLAIN = re.compile(r"[^\s\x00-\x1f\x7f]+")


def canonical_type(name: str) -> str:
    """The datastore type ``name`` denotes (``mysql`` is ``mariadb``); ValueError if unknown."""
    canonical = ALIASES.get(name, name)
    if canonical not in TYPES:
        known = ", ".join((*TYPES, *ALIASES))
        raise ValueError(f"unknown datastore type {name!r} (known: {known})")
    return canonical


@dataclass(frozen=True)
class ServerConfig:
    """One datastore: a server (host, port, admin user, password) or SQLite's directory.

    The type alias is resolved and defaults filled in on construction; ValueError if
    something is missing or malformed (never quoting the password). repr and str leave
    the password out.
    """

    type: str
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str | None = field(default=None, repr=False)
    directory: Path | None = None

    def __post_init__(self) -> None:
        # Frozen, so the normalised values are set through object.__setattr__, once.
        kind = canonical_type(self.type)
        object.__setattr__(self, "type", kind)
        if kind == SQLITE:
            if self.directory is None:
                raise ValueError("a sqlite datastore needs a directory")
            return
        _check_plain("host", self.host)
        if self.port is None:
            object.__setattr__(self, "port", DEFAULT_PORTS[kind])
        object.__setattr__(self, "user", self.user or DEFAULT_USERS[kind])
        _check_plain("user", self.user)
        if self.port is None or not 0 < self.port < 65536:
            raise ValueError(f"{kind} port {self.port} is outside 1-65535")
        if self.password is not None and re.search(r"[\x00\r\n]", self.password):
            raise ValueError(f"the {kind} password contains a line break or NUL")


def _check_plain(what: str, value: str) -> None:
    """ValueError unless ``value`` is non-empty, without blanks or control characters."""
    if not isinstance(value, str) or _PLAIN.fullmatch(value) is None:
        raise ValueError(f"the {what} must be non-empty, without blanks or control characters")
