"""The datastores the operator configured, from SAFEHOLD_* settings.

``SAFEHOLD_POSTGRESQL_URL`` and ``SAFEHOLD_MARIADB_URL`` name one server each
(``postgresql://user[:password]@host[:port]``, ``mysql://`` or ``mariadb://``);
``SAFEHOLD_DATASTORES_FILE`` names a JSON file ``{"postgresql": {"host", "port", "user",
"password"}, "mariadb": {...}}`` (``mysql`` is accepted for ``mariadb``). A type may be
configured once. SQLite is always present. Errors name the setting, never its password.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from storage.sources.databases.config import (
    MARIADB,
    POSTGRESQL,
    SQLITE,
    ServerConfig,
    canonical_type,
)
from storage.sources.databases.mariadb import MariadbDatastore
from storage.sources.databases.postgresql import PostgresqlDatastore
from storage.sources.databases.protocol import Datastore
from storage.sources.databases.sqlite import SqliteDatastore

POSTGRESQL_URL: Final = "SAFEHOLD_POSTGRESQL_URL"
MARIADB_URL: Final = "SAFEHOLD_MARIADB_URL"
DATASTORES_FILE: Final = "SAFEHOLD_DATASTORES_FILE"
_URL_SETTINGS: Final = {POSTGRESQL: POSTGRESQL_URL, MARIADB: MARIADB_URL}
_SCHEMES: Final = {
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    "mariadb": MARIADB,
    "mysql": MARIADB,
}
_FILE_FIELDS: Final = {"host": str, "port": int, "user": str, "password": str}


def configured_datastores(env: Mapping[str, str], sqlite_dir: Path) -> dict[str, Datastore]:
    """Every configured datastore keyed by type ("sqlite" always); raises ValueError naming
    the setting at fault (never quoting a password). Connects to nothing."""
    configs = {
        kind: config_from_url(setting, env[setting], kind)
        for kind, setting in _URL_SETTINGS.items()
        if env.get(setting, "").strip()
    }
    file_name = env.get(DATASTORES_FILE, "").strip()
    for kind, config in (configs_from_file(Path(file_name)) if file_name else {}).items():
        if kind in configs:
            raise ValueError(
                f"{kind} is configured twice: by {_URL_SETTINGS[kind]} and {DATASTORES_FILE}"
            )
        configs[kind] = config
    stores: dict[str, Datastore] = {SQLITE: SqliteDatastore(sqlite_dir)}
    stores.update((kind, open_datastore(config)) for kind, config in configs.items())
    return stores


def open_datastore(config: ServerConfig) -> Datastore:
    """The driver for ``config``; connects to nothing."""
    if config.type == POSTGRESQL:
        return PostgresqlDatastore(config)
    if config.type == MARIADB:
        return MariadbDatastore(config)
    assert config.directory is not None  # ServerConfig insists for sqlite
    return SqliteDatastore(config.directory)


def config_from_url(setting: str, url: str, kind: str) -> ServerConfig:
    """The ``kind`` server a URL setting names; ValueError naming ``setting`` otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # parsed lazily: a bad port raises only here
    except ValueError:
        raise ValueError(f"{setting} is not a valid URL") from None
    expected = sorted(scheme for scheme, target in _SCHEMES.items() if target == kind)
    if _SCHEMES.get(parts.scheme) != kind:
        raise ValueError(f"{setting} must start with {' or '.join(s + '://' for s in expected)}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{setting} must name only user, password, host and port")
    return _config(
        setting,
        type=kind,
        host=parts.hostname or "",
        port=port,
        user=unquote(parts.username or ""),
        password=None if parts.password is None else unquote(parts.password),
    )


def configs_from_file(path: Path) -> dict[str, ServerConfig]:
    """The servers the JSON file names, keyed by canonical type; ValueError naming
    SAFEHOLD_DATASTORES_FILE if it is unreadable or malformed."""
    document = _read_json(path)
    if not isinstance(document, dict):
        raise ValueError(f"{DATASTORES_FILE}: {path} must hold a JSON object")
    configs: dict[str, ServerConfig] = {}
    for key, entry in document.items():
        kind = _file_type(key)
        if kind in configs:
            raise ValueError(f"{DATASTORES_FILE}: {kind} is configured twice (mysql is mariadb)")
        configs[kind] = _config(f"{DATASTORES_FILE} {key!r}", type=kind, **_file_entry(key, entry))
    return configs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{DATASTORES_FILE}: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValueError(f"{DATASTORES_FILE}: {path} is not JSON ({where})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{DATASTORES_FILE}: {path} is not UTF-8") from None


def _file_type(key: str) -> str:
    """The server type a file key names; ValueError for sqlite and unknown keys."""
    try:
        kind = canonical_type(key)
    except ValueError:
        kind = SQLITE
    if kind == SQLITE:  # configured by the caller's directory, not by this file
        known = ", ".join(sorted(_SCHEMES))
        raise ValueError(f"{DATASTORES_FILE}: unknown datastore {key[:40]!r} (known: {known})")
    return kind


def _file_entry(key: str, entry: object) -> dict[str, Any]:
    """The checked fields of one file entry; ValueError for unknown or mistyped fields."""
    where = f"{DATASTORES_FILE} {key!r}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a JSON object")
    unknown = sorted(str(field)[:40] for field in entry if field not in _FILE_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (known: {sorted(_FILE_FIELDS)})")
    for field, value in entry.items():
        expected = _FILE_FIELDS[field]
        # bool is an int to Python, never a port to us.
        if value is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            raise ValueError(f"{where}: {field} must be a {expected.__name__}")
    return {field: value for field, value in entry.items() if value is not None}


def _config(where: str, **fields: Any) -> ServerConfig:
    """A ServerConfig; its ValueErrors (which never quote the password) prefixed."""
    try:
        return ServerConfig(**fields)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
