"""Client configuration: flag, then environment, then config file, then default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployments.client.config import DEFAULT_URL, config_path, resolve
from deployments.client.errors import ConfigError

NO_FLAGS: dict[str, str | None] = {}


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    """An environment whose default config file lives under tmp_path (absent)."""
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **values}


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_defaults_are_the_local_noauth_admin(tmp_path: Path) -> None:
    config = resolve(NO_FLAGS, _env(tmp_path))
    assert config.url == DEFAULT_URL
    assert config.manila_url == "http://127.0.0.1:8786"
    assert config.trove_url == "http://127.0.0.1:8779"
    assert config.prefect_url == "http://127.0.0.1:4200/api"
    assert (config.user, config.project, config.token) == ("admin", "admin", "admin:admin")
    assert config.origins["url"] == "default"


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    _write(tmp_path / "xdg/safehold/cli.toml", 'url = "http://file:1"\nproject = "pf"\n')
    env = _env(tmp_path, SAFEHOLD_URL="http://env:2")
    assert resolve(NO_FLAGS, env).url == "http://env:2"
    assert resolve(NO_FLAGS, env).project == "pf"
    assert resolve({"url": "http://flag:3/"}, env).url == "http://flag:3"
    assert resolve(NO_FLAGS, _env(tmp_path)).url == "http://file:1"
    origins = resolve({"url": "http://flag:3"}, env).origins
    assert (origins["url"], origins["project"]) == ("flag", "config file")


def test_sibling_services_follow_the_main_url(tmp_path: Path) -> None:
    config = resolve({"url": "https://api.example:9000"}, _env(tmp_path))
    assert config.manila_url == "https://api.example:8786"
    assert config.trove_url == "https://api.example:8779"
    manila = resolve(NO_FLAGS, _env(tmp_path, SAFEHOLD_MANILA_URL="http://m:1"))
    assert manila.manila_url == "http://m:1"


def test_noauth_token_names_user_and_project(tmp_path: Path) -> None:
    env = _env(tmp_path, SAFEHOLD_PROJECT="p1")
    assert resolve({"user": "ops"}, env).token == "ops:p1"
    admins = resolve(NO_FLAGS, _env(tmp_path, SAFEHOLD_ADMIN_USERS=" root , ops"))
    assert (admins.user, admins.origins["user"]) == ("root", "env SAFEHOLD_ADMIN_USERS")


def test_a_given_token_wins_and_leaves_the_project_to_configure(tmp_path: Path) -> None:
    config = resolve(NO_FLAGS, _env(tmp_path, SAFEHOLD_TOKEN="s3cr3t"))
    assert (config.token, config.project) == ("s3cr3t", None)
    assert "s3cr3t" not in repr(config)


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({"config": str(tmp_path / "nope.toml")}, _env(tmp_path))
    env = _env(tmp_path, SAFEHOLD_CONFIG=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(NO_FLAGS, env)


def test_config_file_errors_are_config_errors(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.toml", "url = \n")
    with pytest.raises(ConfigError, match="unreadable"):
        resolve({"config": str(bad)}, _env(tmp_path))
    typo = _write(tmp_path / "typo.toml", 'urll = "http://x:1"\n')
    with pytest.raises(ConfigError, match="unknown setting 'urll'"):
        resolve({"config": str(typo)}, _env(tmp_path))


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="http"):
        resolve({"url": "ftp://host"}, _env(tmp_path))
    with pytest.raises(ConfigError, match="timeout"):
        resolve({"timeout": "soon"}, _env(tmp_path))
    with pytest.raises(ConfigError, match="positive"):
        resolve(NO_FLAGS, _env(tmp_path, SAFEHOLD_POLL_INTERVAL="0"))


def test_a_token_in_a_loose_file_is_warned_about(tmp_path: Path) -> None:
    loose = _write(tmp_path / "loose.toml", 'token = "t"\nproject = "p"\n', mode=0o644)
    assert "chmod 600" in resolve({"config": str(loose)}, _env(tmp_path)).warnings[0]
    tight = _write(tmp_path / "tight.toml", 'token = "t"\nproject = "p"\n', mode=0o600)
    assert resolve({"config": str(tight)}, _env(tmp_path)).warnings == ()


def test_default_config_path_honours_xdg(tmp_path: Path) -> None:
    path, named = config_path(None, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert (path, named) == (tmp_path / "safehold" / "cli.toml", False)
    assert config_path(None, {"HOME": str(tmp_path)})[0] == tmp_path / ".config/safehold/cli.toml"
