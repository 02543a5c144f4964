"""The `safehold` command under auth_mode=tokens: bad files stop it before anything starts,
children get an absolute tokens path, `progress` sends SAFEHOLD_TOKEN."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments import cli
from deployments.environment import prefect_server_env, service_env
from storage.settings import Settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    """Records `run` calls instead of starting the process tree."""
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFEHOLD_AUTH_MODE", "tokens")
    calls: list[Settings] = []

    def fake_run(settings: Settings) -> int:
        calls.append(settings)
        return 0

    monkeypatch.setattr(cli, "run", fake_run)
    return calls


def test_run_refuses_a_bad_tokens_file(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFEHOLD_TOKENS_FILE", str(tmp_path / "missing.json"))
    assert cli.main(["run"]) == 2
    assert started == []


def test_run_starts_with_a_good_tokens_file(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"t0k3n": {"user_id": "u", "project_id": "p", "roles": []}}')
    monkeypatch.setenv("SAFEHOLD_TOKENS_FILE", str(tokens))
    assert cli.main(["run"]) == 0
    assert [s.tokens_file for s in started] == [tokens]


def test_children_get_an_absolute_tokens_path(tmp_path: Path) -> None:
    env = service_env(Settings(data_dir=tmp_path, tokens_file=Path("conf/tokens.json")))
    assert env["SAFEHOLD_TOKENS_FILE"] == str(Path.cwd() / "conf/tokens.json")


def test_progress_sends_the_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []

    def fake_follow(url: str, project: str, backup_id: str, token: str) -> int:
        sent.append(token)
        return 0

    monkeypatch.setattr(cli, "follow", fake_follow)
    monkeypatch.delenv("SAFEHOLD_TOKEN", raising=False)
    assert cli.main(["progress", "b1", "--project", "p1"]) == 0
    monkeypatch.setenv("SAFEHOLD_TOKEN", "t0k3n")
    assert cli.main(["progress", "b1", "--project", "p1"]) == 0
    assert sent == ["admin:p1", "t0k3n"]


def test_the_prefect_server_gets_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAFEHOLD_S3_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("SAFEHOLD_CATALOG_URL", "postgresql://u:pw@db/cat")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-s3cr3t")
    settings = Settings(data_dir=tmp_path, tokens_file=Path("conf/tokens.json"))
    server = prefect_server_env(settings)
    assert not [k for k in server if k.startswith(("SAFEHOLD_", "AWS_"))]
    assert "s3cr3t" not in repr(server) and "pw@db" not in repr(server)
    assert server["PREFECT_API_URL"] == service_env(settings)["PREFECT_API_URL"]
    # The runner and the API still get what they need.
    assert service_env(settings)["SAFEHOLD_S3_SECRET_ACCESS_KEY"] == "s3cr3t"
