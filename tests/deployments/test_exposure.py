"""noauth is refused on anything but loopback unless the operator forces it."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.exposure import is_loopback
from deployments import cli
from storage.settings import Settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    """Records `run` calls instead of starting the process tree."""
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path))
    calls: list[Settings] = []
    monkeypatch.setattr(cli, "run", lambda settings: calls.append(settings) or 0)
    return calls


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.6.7", "::1", "[::1]", "localhost"])
def test_loopback_names(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "backup.example"])
def test_reachable_names(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("command", ["run", "api"])
def test_noauth_on_a_reachable_address_is_refused(
    started: list[Settings],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    command: str,
) -> None:
    monkeypatch.setenv("SAFEHOLD_HOST", "0.0.0.0")
    assert cli.main([command]) == 2
    assert started == []
    assert "SAFEHOLD_AUTH_MODE=noauth on SAFEHOLD_HOST=0.0.0.0" in caplog.text


def test_noauth_on_loopback_starts(started: list[Settings]) -> None:
    assert cli.main(["run"]) == 0
    assert [s.auth_mode for s in started] == ["noauth"]


def test_noauth_beyond_loopback_can_be_forced(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEHOLD_HOST", "0.0.0.0")
    monkeypatch.setenv("SAFEHOLD_NOAUTH_BEYOND_LOOPBACK", "true")
    assert cli.main(["run"]) == 0
    assert len(started) == 1
