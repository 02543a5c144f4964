"""`safehold token create|list|revoke|rotate`: the tokens file of auth_mode=tokens.

Works on the file alone (`--file`, else SAFEHOLD_TOKENS_FILE): no API, no Prefect. A
token is printed once, on stdout, when it is made (create, rotate); the file keeps only
its sha256 (api/tokens.py), and any write also replaces the plain-token keys an older
file may hold by their digests. Writes are atomic (a 0600 temporary file renamed over
the old one, which keeps its owner), serialised by a lock file beside it, and a running
API sees them at its next request (api.tokens.TokenFile).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from api.tokens import (
    Identity,
    TokenEntry,
    TokenFileError,
    dump_entries,
    owner_only,
    read_entries,
    token_digest,
)
from deployments.client.errors import ClientError
from deployments.client.output import Output, stdout_console, text
from storage.durable import fsync_directory
from storage.settings import Settings

FILE_MODE: Final = 0o600
SECRET_BYTES: Final = 32
ID_BYTES: Final = 6

app = typer.Typer(
    help="API tokens of SAFEHOLD_AUTH_MODE=tokens: the tokens file (no API call).",
    no_args_is_help=True,
)


class Role(StrEnum):
    """Keystone's roles, as the API knows them (api/tokens.py)."""

    ADMIN = "admin"
    MEMBER = "member"
    READER = "reader"


class TokenAdminError(ClientError):
    """The tokens file cannot be used or changed as asked; nothing was changed."""


IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The token's id.")]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file", help="The tokens file (default: SAFEHOLD_TOKENS_FILE).", show_default=False
    ),
]


def tokens_path(file: Path | None) -> Path:
    """`--file`, else SAFEHOLD_TOKENS_FILE; TokenAdminError when neither is given."""
    if file is not None:
        return file
    configured = Settings().tokens_file
    if configured is None:
        raise TokenAdminError("no tokens file: give --file or set SAFEHOLD_TOKENS_FILE")
    return configured


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.<name>.lock` beside `path` (one writer at a time)."""
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise TokenAdminError(f"tokens file {path} cannot be locked: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_tokens(path: Path, *, missing_ok: bool = False) -> list[TokenEntry]:
    """The file's entries ([] for a missing file when `missing_ok`); TokenAdminError."""
    if missing_ok and not path.exists():
        return []
    try:
        return read_entries(path)
    except TokenFileError as exc:
        raise TokenAdminError(str(exc)) from None


def write_tokens(path: Path, entries: Sequence[TokenEntry]) -> None:
    """Replace the file with `entries` in one rename: 0600, its owner kept, synced; a
    symlink is followed (its target is replaced, the link stays)."""
    path = path.resolve()
    previous = path.stat() if path.exists() else None
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(dump_entries(entries))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        if previous is not None:
            _keep_owner(temporary, previous, path)
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def _keep_owner(temporary: str, previous: os.stat_result, path: Path) -> None:
    """Give the new file the old one's owner and group; TokenAdminError if not allowed
    (the API, running as that owner, could not read a file owned by someone else)."""
    if (previous.st_uid, previous.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.chown(temporary, previous.st_uid, previous.st_gid)
    except PermissionError:
        raise TokenAdminError(
            f"cannot keep the owner {previous.st_uid}:{previous.st_gid} of {path}: "
            "run this as that user (or root); nothing changed"
        ) from None


def now() -> str:
    """The current UTC time to the second, as the file records it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_secret() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_entry(
    entries: Sequence[TokenEntry], user: str, project: str, roles: Sequence[Role]
) -> tuple[str, TokenEntry]:
    """(token, entry) for a new token of `user` in `project`; an id no entry has."""
    for value, what in ((user, "--user"), (project, "--project")):
        if not value or value != value.strip() or not value.isprintable():
            raise TokenAdminError(f"{what} must be a non-empty name without surrounding spaces")
    taken = {entry.entry_id for entry in entries}
    entry_id = secrets.token_hex(ID_BYTES)
    while entry_id in taken:
        entry_id = secrets.token_hex(ID_BYTES)
    token = new_secret()
    identity = Identity(user, project, frozenset(role.value for role in roles))
    return token, TokenEntry(token_digest(token), identity, entry_id, created=now())


def position(entries: Sequence[TokenEntry], entry_id: str) -> int:
    """The index of the entry with `entry_id`; TokenAdminError when there is none."""
    for index, entry in enumerate(entries):
        if entry.entry_id == entry_id:
            return index
    raise TokenAdminError(f"no token with id {entry_id} (see `safehold token list`)")


def rotated(entry: TokenEntry) -> tuple[str, TokenEntry]:
    """(token, entry) with a new secret; id, identity and creation time kept."""
    token = new_secret()
    return token, replace(entry, digest=token_digest(token), plain=False, rotated=now())


def listed(entry: TokenEntry) -> dict[str, Any]:
    """What `list` shows of an entry: never the token, nor its digest."""
    identity = entry.identity
    return {
        "id": entry.entry_id,
        "user_id": identity.user_id,
        "project_id": identity.project_id,
        "roles": sorted(identity.roles),
        "created": entry.created,
        "rotated": entry.rotated,
        "stored": "token" if entry.plain else "sha256",
    }


def _say(message: str) -> None:
    """A note for the operator, on stderr: stdout holds only a token (or the list)."""
    sys.stderr.write(message + "\n")


def _token_out(token: str) -> None:
    sys.stdout.write(token + "\n")
    sys.stdout.flush()


def _as_json(ctx: typer.Context) -> bool:
    return bool(getattr(ctx.obj, "as_json", False))


@app.command("create")
def create_command(
    user: Annotated[str, typer.Option("--user", help="The token's user id.")],
    project: Annotated[str, typer.Option("--project", help="The token's project id.")],
    role: Annotated[
        list[Role] | None,
        typer.Option("--role", help="A role (repeatable): member (default), reader, admin."),
    ] = None,
    file: FileOption = None,
) -> None:
    """Make a token; print it once on stdout (only its sha256 is stored)."""
    path = tokens_path(file)
    roles = role or [Role.MEMBER]
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        entries = read_tokens(path, missing_ok=True)
        token, entry = new_entry(entries, user, project, roles)
        write_tokens(path, [*entries, entry])
    _say(
        f"created token {entry.entry_id}: user {user}, project {project}, roles "
        f"{','.join(sorted(entry.identity.roles))} in {path}; it is shown once, below"
    )
    _token_out(token)


@app.command("list")
def list_command(ctx: typer.Context, file: FileOption = None) -> None:
    """List the tokens: id, user, project, roles, dates (never a token)."""
    path = tokens_path(file)
    rows = [listed(entry) for entry in read_tokens(path)]
    if not owner_only(path):
        _say(f"warning: {path} is readable by others than its owner: chmod 600 it")
    if _as_json(ctx):
        Output(as_json=True).json({"tokens": rows})
        return
    stdout_console().print(token_table(rows))


def token_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The list as a table; ids, users and projects are never folded (they are copied)."""
    table = Table()
    for header in ("ID", "User", "Project"):
        table.add_column(header, no_wrap=True)
    for header in ("Roles", "Created", "Rotated", "Stored"):
        table.add_column(header, overflow="fold")
    for row in rows:
        cells = (row["id"], row["user_id"], row["project_id"], ",".join(row["roles"]))
        dates = (_shown(row["created"]), _shown(row["rotated"]))
        table.add_row(*map(text, (*cells, *dates, row["stored"])))
    return table


def _shown(timestamp: str | None) -> str | None:
    """`2026-11-29T09:51:13Z` as `2026-11-29 09:51`: short enough not to fold."""
    return timestamp[:16].replace("T", " ") if timestamp else None


@contextmanager
def _editing(file: Path | None, entry_id: str) -> Iterator[tuple[Path, list[TokenEntry], int]]:
    """The tokens file (locked while the block runs), its entries and ``entry_id``'s index;
    TokenAdminError for an unknown id."""
    path = tokens_path(file)
    with locked(path):
        entries = read_tokens(path)
        yield path, entries, position(entries, entry_id)


@app.command("revoke")
def revoke_command(entry_id: IdArgument, file: FileOption = None) -> None:
    """Remove a token: it stops working at the API's next request."""
    with _editing(file, entry_id) as (path, entries, index):
        if len(entries) == 1:
            raise TokenAdminError(
                f"{entry_id} is the only token of {path}, which may not be empty: create "
                f"another first, or rotate this one (`safehold token rotate {entry_id}`)"
            )
        gone = entries.pop(index)
        write_tokens(path, entries)
    who = gone.identity
    _say(f"revoked token {entry_id} (user {who.user_id}, project {who.project_id})")


@app.command("rotate")
def rotate_command(entry_id: IdArgument, file: FileOption = None) -> None:
    """Give a token a new secret, printed once; the old one stops working."""
    with _editing(file, entry_id) as (path, entries, index):
        token, entries[index] = rotated(entries[index])
        write_tokens(path, entries)
    _say(f"rotated token {entry_id}: the old secret no longer works; the new one, shown once:")
    _token_out(token)
