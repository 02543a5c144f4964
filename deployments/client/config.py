"""Client configuration: each setting from its flag, else the environment, else the
config file, else a default; pure functions of (flags, environment, file).

The token is the one secret. It is best given in the environment (`SAFEHOLD_TOKEN`) or
in a config file only its owner can read: a `--token` flag is visible to every local
user in the process list. Under noauth it defaults to `<user>:<project>`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from deployments.client.errors import ConfigError

DEFAULT_URL: Final = "http://127.0.0.1:8776"
DEFAULT_USER: Final = "admin"
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_POLL: Final = 0.5
MANILA_PORT: Final = 8786
TROVE_PORT: Final = 8779
PREFECT_PORT: Final = 4200
CONFIG_ENV: Final = "SAFEHOLD_CONFIG"
# The service's noauth admins (storage.settings): its first is the natural default user.
ADMINS_ENV: Final = "SAFEHOLD_ADMIN_USERS"
SETTINGS: Final = (
    "url",
    "manila_url",
    "trove_url",
    "prefect_url",
    "project",
    "user",
    "token",
    "timeout",
    "poll_interval",
)
NUMBERS: Final = frozenset({"timeout", "poll_interval"})


def env_name(setting: str) -> str:
    """The environment variable of a setting: SAFEHOLD_<NAME>."""
    return f"SAFEHOLD_{setting.upper()}"


@dataclass(frozen=True)
class ClientConfig:
    """Where the APIs are and who is calling; `origins` says where each value came from."""

    url: str
    manila_url: str
    trove_url: str
    prefect_url: str
    project: str | None
    user: str
    token: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    poll_interval: float = DEFAULT_POLL
    origins: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def config_path(flag: str | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read and whether it was named (a named file must exist)."""
    if flag:
        return Path(flag).expanduser(), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser(), True
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "safehold" / "cli.toml", False


def read_config_file(path: Path, named: bool) -> dict[str, Any]:
    """The file's settings; {} when an unnamed default file is absent."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if named:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is unreadable: {exc}") from None
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    return data


def _exposed_token_warning(path: Path, data: Mapping[str, Any]) -> tuple[str, ...]:
    """Warn (as ssh does for keys) when a file holding a token is readable by others."""
    if "token" not in data:
        return ()
    try:
        loose = path.stat().st_mode & 0o077
    except OSError:
        return ()
    if not loose:
        return ()
    return (f"warning: {path} holds a token and others may read it (chmod 600 {path})",)


def _pick(
    name: str, flags: Mapping[str, str | None], env: Mapping[str, str], data: Mapping[str, Any]
) -> tuple[str | None, str]:
    """(value, origin) of one setting from the first source that has it."""
    if flags.get(name) not in (None, ""):
        return flags[name], "flag"
    var = env_name(name)
    if env.get(var):
        return env[var], f"env {var}"
    if name in data:
        return str(data[name]), "config file"
    return None, "default"


def sibling_url(url: str, port: int, path: str = "") -> str:
    """The same scheme and host as `url`, on another port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{port}{path}"


def _checked_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL, not {value!r}")
    return value.rstrip("/")


def _number(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive")
    return number


def _default_user(env: Mapping[str, str]) -> tuple[str, str]:
    admins = [u.strip() for u in env.get(ADMINS_ENV, "").split(",") if u.strip()]
    return (admins[0], f"env {ADMINS_ENV}") if admins else (DEFAULT_USER, "default")


def resolve(flags: Mapping[str, str | None], env: Mapping[str, str]) -> ClientConfig:
    """The configuration from flags (by setting name, plus "config"), environment, file."""
    path, named = config_path(flags.get("config"), env)
    data = read_config_file(path, named)
    picked = {name: _pick(name, flags, env, data) for name in SETTINGS}
    origins = {name: origin for name, (_, origin) in picked.items()}
    value = {name: v for name, (v, _) in picked.items()}
    url = _checked_url("url", value["url"] or DEFAULT_URL)
    derived = {
        "manila_url": sibling_url(url, MANILA_PORT),
        "trove_url": sibling_url(url, TROVE_PORT),
        "prefect_url": sibling_url(url, PREFECT_PORT, "/api"),
    }
    urls = {k: _checked_url(k, value[k] or default) for k, default in derived.items()}
    user = value["user"]
    if user is None:
        user, origins["user"] = _default_user(env)
    project = value["project"]
    token = value["token"]
    if token is None:
        # noauth: a bare user acts in the project named after the user (api.auth).
        if project is None:
            project, origins["project"] = user, "default: the user"
        token, origins["token"] = f"{user}:{project}", "default: user:project (noauth)"
    return ClientConfig(
        url=url,
        project=project,
        user=user,
        token=token,
        timeout=_number("timeout", value["timeout"], DEFAULT_TIMEOUT),
        poll_interval=_number("poll_interval", value["poll_interval"], DEFAULT_POLL),
        origins=origins,
        warnings=_exposed_token_warning(path, data),
        **urls,
    )


def environment() -> dict[str, str]:
    """A copy of the process environment (resolution takes it as a plain mapping)."""
    return dict(os.environ)
