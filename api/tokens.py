"""Static API tokens (auth_mode=tokens): a JSON file mapping each token to an identity.

Only sha256 digests of the tokens are held, and a request's token is found by its digest
(a dict lookup, so no secret is compared byte by byte). Keys written `sha256:<hex>` are
digests already (what `safehold token` writes); a key that is the token itself is still
read. Errors name the file and the entry's position, never a token.

Roles (Keystone's): `admin` may do everything, in every project; `member` (the normal
role, also what a token without `admin` or `reader` is) may do everything in its project
but the admin-only calls; `reader` alone may only read (api.auth refuses its writes).

The API re-reads the file when it changes (`TokenFile`: one stat per request); a file
that became unusable is logged and the tokens read before stay in force.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storage.settings import Settings

logger = logging.getLogger(__name__)

ADMIN_ROLE: Final = "admin"
MEMBER_ROLE: Final = "member"
READER_ROLE: Final = "reader"
KNOWN_ROLES: Final = frozenset({ADMIN_ROLE, MEMBER_ROLE, READER_ROLE})
# Roles that may change things; a reader without one of them only reads.
WRITING_ROLES: Final = frozenset({ADMIN_ROLE, MEMBER_ROLE})
PREHASHED: Final = "sha256:"
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Entries without an `id` are named by this many hex digits of their digest.
DERIVED_ID_LENGTH: Final = 12
_HEX_DIGEST: Final = re.compile(r"[0-9a-fA-F]{64}")
# Visible ASCII only: HTTP strips surrounding whitespace, so such a token could never match.
_TOKEN_CHARS: Final = re.compile(r"[!-~]+")


class TokenFileError(ValueError):
    """The tokens file is missing, unreadable or malformed; the message names the file."""


@dataclass(frozen=True)
class Identity:
    """Whom a token stands for."""

    user_id: str
    project_id: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        """True when the token carries the admin role."""
        return ADMIN_ROLE in self.roles

    @property
    def read_only(self) -> bool:
        """True when the token carries `reader` and neither `admin` nor `member`."""
        return READER_ROLE in self.roles and not self.roles & WRITING_ROLES


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    roles: list[str] = []
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    created: str | None = None
    rotated: str | None = None

    @field_validator("created", "rotated")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.fromisoformat(value)  # ValueError: reported as the field's error
        return value


@dataclass(frozen=True)
class TokenEntry:
    """One entry of the tokens file: the token's digest, never the token, and its identity."""

    digest: str
    identity: Identity
    entry_id: str
    plain: bool = False
    created: str | None = None
    rotated: str | None = None

    def key_and_value(self) -> tuple[str, dict[str, Any]]:
        """The entry as the file holds it: a `sha256:` key (never the token) and its object."""
        value: dict[str, Any] = {
            "id": self.entry_id,
            "user_id": self.identity.user_id,
            "project_id": self.identity.project_id,
            "roles": sorted(self.identity.roles),
        }
        if self.created is not None:
            value["created"] = self.created
        if self.rotated is not None:
            value["rotated"] = self.rotated
        return f"{PREHASHED}{self.digest}", value


def token_digest(token: str) -> str:
    """The lowercase hex sha256 of a token, as a `sha256:` key holds it."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenTable:
    """Identities by token digest; never holds a token itself."""

    def __init__(self, by_digest: Mapping[str, Identity]) -> None:
        self._by_digest = dict(by_digest)

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, token: str | None) -> Identity | None:
        """The token's identity; None for a missing or unknown token."""
        if not token:
            return None
        return self._by_digest.get(token_digest(token))


Signature = tuple[int, int, int, int]


def _signature(path: Path) -> Signature | None:
    """What changes when the file is replaced or written; None when it cannot be stat'ed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class TokenFile:
    """The tokens file's table, re-read when the file changes (a stat per lookup).

    A change that leaves the file unusable is logged once and the last good table stays
    in force, so a bad edit cannot lock every client out (nor revoke anything)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen = _signature(path)
        self._table = load_tokens(path)

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, token: str | None) -> Identity | None:
        """The token's identity as the file says now; None for a missing or unknown token."""
        self._refresh()
        return self._table.lookup(token)

    def _refresh(self) -> None:
        now = _signature(self.path)
        if now == self._seen:
            return
        with self._lock:
            if now == self._seen:
                return
            self._seen = now
            try:
                table = load_tokens(self.path)
            except TokenFileError as exc:
                logger.error("%s; keeping the %d tokens read before", exc, len(self._table))
                return
            self._table = table
        logger.info("token auth: re-read %d tokens from %s", len(table), self.path)


def configured_tokens(settings: Settings) -> TokenFile | None:
    """The tokens file under auth_mode=tokens, None under noauth; raises TokenFileError."""
    if settings.auth_mode != "tokens":
        return None
    if settings.tokens_file is None:
        raise TokenFileError("SAFEHOLD_AUTH_MODE=tokens needs SAFEHOLD_TOKENS_FILE")
    tokens = TokenFile(settings.tokens_file)
    logger.info("token auth: %d tokens from %s", len(tokens), settings.tokens_file)
    return tokens


def load_tokens(path: Path) -> TokenTable:
    """Read and validate a tokens file; raises TokenFileError (naming no token)."""
    return TokenTable({entry.digest: entry.identity for entry in read_entries(path)})


def read_entries(path: Path) -> list[TokenEntry]:
    """The entries of a tokens file, in file order; raises TokenFileError (naming no token)."""
    where = f"tokens file {path}"
    raw = _read_json(path, where)
    if not isinstance(raw, dict) or not raw:
        raise TokenFileError(f"{where} must be a non-empty JSON object of token: identity")
    entries: list[TokenEntry] = []
    digests: set[str] = set()
    ids: set[str] = set()
    for position, (key, value) in enumerate(raw.items(), start=1):
        entry = _entry(key, value, f"{where}, entry {position}")
        if entry.digest in digests:
            raise TokenFileError(f"{where}, entry {position} repeats an earlier token")
        if entry.entry_id in ids:
            raise TokenFileError(f"{where}, entry {position} repeats the id {entry.entry_id}")
        digests.add(entry.digest)
        ids.add(entry.entry_id)
        entries.append(entry)
    return entries


def dump_entries(entries: Iterable[TokenEntry]) -> str:
    """The tokens file's text for `entries`: `sha256:` keys only, so it holds no token."""
    document = dict(entry.key_and_value() for entry in entries)
    return json.dumps(document, indent=2) + "\n"


def _read_json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique(where))
    except OSError as exc:
        raise TokenFileError(
            f"{where} cannot be read: {exc.strerror or type(exc).__name__}"
        ) from None
    except UnicodeDecodeError:
        raise TokenFileError(f"{where} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # Only position and reason: the exception also holds the whole document.
        raise TokenFileError(
            f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _unique(where: str) -> Any:
    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # json keeps the last of repeated keys silently; a repeated token is a mistake.
        out = dict(pairs)
        if len(out) != len(pairs):
            raise TokenFileError(f"{where} repeats a key")
        return out

    return pairs_to_dict


def _digest_of_key(key: str, entry: str) -> tuple[str, bool]:
    """(digest, whether the key is the token itself)."""
    if key.startswith(PREHASHED):
        hex_digest = key.removeprefix(PREHASHED)
        if not _HEX_DIGEST.fullmatch(hex_digest):
            raise TokenFileError(f"{entry}: a sha256: key needs 64 hex digits")
        return hex_digest.lower(), False
    if not _TOKEN_CHARS.fullmatch(key):
        raise TokenFileError(f"{entry}: a token must be visible ASCII without spaces")
    return token_digest(key), True


def _entry(key: str, value: Any, entry: str) -> TokenEntry:
    digest, plain = _digest_of_key(key, entry)
    if not isinstance(value, dict):
        raise TokenFileError(f"{entry} must be an object with user_id, project_id and roles")
    try:
        parsed = _Entry.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TokenFileError(f"{entry}: {field}: {first['msg']}") from None
    unknown = sorted(set(parsed.roles) - KNOWN_ROLES)
    if unknown:
        logger.warning("%s: roles %s grant nothing beyond member's", entry, unknown)
    identity = Identity(parsed.user_id, parsed.project_id, frozenset(parsed.roles))
    return TokenEntry(
        digest=digest,
        identity=identity,
        entry_id=parsed.id or digest[:DERIVED_ID_LENGTH],
        plain=plain,
        created=parsed.created,
        rotated=parsed.rotated,
    )


def owner_only(path: Path) -> bool:
    """True when no one but the file's owner may read or write it (mode 0600 or less)."""
    return path.stat().st_mode & 0o077 == 0
