"""Static API tokens (auth_mode=tokens): a JSON file mapping each token to an identity.

Only sha256 digests of the tokens are held, and a request's token is found by its digest
(a dict lookup, so no secret is compared byte by byte). Keys written `sha256:<hex>` are
digests already. Errors name the file and the entry's position, never a token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storage.settings import Settings

logger = logging.getLogger(__name__)

ADMIN_ROLE: Final = "admin"
PREHASHED: Final = "sha256:"
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


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    roles: list[str] = []


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


def configured_tokens(settings: Settings) -> TokenTable | None:
    """The token table under auth_mode=tokens, None under noauth; raises TokenFileError."""
    if settings.auth_mode != "tokens":
        return None
    if settings.tokens_file is None:
        raise TokenFileError("SAFEHOLD_AUTH_MODE=tokens needs SAFEHOLD_TOKENS_FILE")
    table = load_tokens(settings.tokens_file)
    logger.info("token auth: %d tokens from %s", len(table), settings.tokens_file)
    return table


def load_tokens(path: Path) -> TokenTable:
    """Read and validate a tokens file; raises TokenFileError (naming no token)."""
    where = f"tokens file {path}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique(where))
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
    if not isinstance(raw, dict) or not raw:
        raise TokenFileError(f"{where} must be a non-empty JSON object of token: identity")
    by_digest: dict[str, Identity] = {}
    for position, (key, value) in enumerate(raw.items(), start=1):
        entry = f"{where}, entry {position}"
        digest = _digest_of_key(key, entry)
        if digest in by_digest:
            raise TokenFileError(f"{entry} repeats an earlier token")
        by_digest[digest] = _identity(value, entry)
    return TokenTable(by_digest)


def _unique(where: str) -> Any:
    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # json keeps the last of repeated keys silently; a repeated token is a mistake.
        out = dict(pairs)
        if len(out) != len(pairs):
            raise TokenFileError(f"{where} repeats a key")
        return out

    return pairs_to_dict


def _digest_of_key(key: str, entry: str) -> str:
    if key.startswith(PREHASHED):
        hex_digest = key.removeprefix(PREHASHED)
        if not _HEX_DIGEST.fullmatch(hex_digest):
            raise TokenFileError(f"{entry}: a sha256: key needs 64 hex digits")
        return hex_digest.lower()
    if not _TOKEN_CHARS.fullmatch(key):
        raise TokenFileError(f"{entry}: a token must be visible ASCII without spaces")
    return token_digest(key)


def _identity(value: Any, entry: str) -> Identity:
    if not isinstance(value, dict):
        raise TokenFileError(f"{entry} must be an object with user_id, project_id and roles")
    try:
        parsed = _Entry.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TokenFileError(f"{entry}: {field}: {first['msg']}") from None
    return Identity(parsed.user_id, parsed.project_id, frozenset(parsed.roles))
