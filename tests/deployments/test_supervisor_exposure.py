"""The embedded Prefect server binds loopback whatever the API binds, and holds no secret."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from deployments import supervisor
from deployments.environment import prefect_api_url
from storage.settings import Settings


class _Spawned(Exception):
    """Stops `run` right after its first child would have started."""


def test_prefect_binds_loopback_and_gets_no_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # run() exports its environment
    monkeypatch.setattr(supervisor.signal, "signal", lambda *_: None)
    monkeypatch.setenv("SAFEHOLD_S3_SECRET_ACCESS_KEY", "s3cr3t")
    spawned: list[tuple[str, list[str], dict[str, str] | None]] = []

    def spawn(_self: Any, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        spawned.append((name, argv, env))
        raise _Spawned

    monkeypatch.setattr(supervisor.Supervisor, "spawn", spawn)
    settings = Settings(
        data_dir=tmp_path,
        host="0.0.0.0",
        noauth_beyond_loopback=True,
        api_port=0,
        ui_port=0,
        manila_port=0,
        trove_port=0,
    )
    with pytest.raises(_Spawned):
        supervisor.run(settings)
    [(name, argv, env)] = spawned
    assert name == "prefect-server"
    assert argv[1:4] == ["-m", "deployments.prefect_server", "127.0.0.1"]
    assert env is not None and "s3cr3t" not in repr(env)
    assert prefect_api_url(settings).startswith("http://127.0.0.1:")


def test_the_operator_may_expose_prefect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = Settings(data_dir=tmp_path, prefect_host="10.0.0.7")
    assert prefect_api_url(settings) == f"http://10.0.0.7:{settings.ui_port}/api"
