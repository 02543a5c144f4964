"""`safehold token create|list|revoke|rotate` on the tokens file, and a running API that
follows the file's changes without a restart."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.launcher import RecordingLauncher
from api.tokens import load_tokens, read_entries, token_digest
from deployments.cli import main
from storage.settings import Settings

PROJECT = "0c2eba2c5af04d3f9e9d0d410b371fde"
LEGACY_TOKEN = "old-Lm3Nb6Vc9Xz2Aq5Ws8Ed1Rf4Tg7Yh0Uj"
LEGACY_ENTRY = {"user_id": "carol", "project_id": PROJECT, "roles": ["member"]}


@pytest.fixture
def tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the commands write: SAFEHOLD_TOKENS_FILE (not created yet)."""
    path = tmp_path / "conf" / "tokens.json"
    monkeypatch.setenv("SAFEHOLD_TOKENS_FILE", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `safehold token <args>`."""
    status = main(["token", *args])
    out, err = capsys.readouterr()
    return status, out, err


def create(capsys: pytest.CaptureFixture[str], user: str = "alice", *roles: str) -> str:
    """A new token of `user` in PROJECT (printed once, alone on stdout)."""
    role_args = [arg for role in roles for arg in ("--role", role)]
    status, out, _ = run(capsys, "create", "--user", user, "--project", PROJECT, *role_args)
    assert status == 0
    return out.strip()


def ids(path: Path) -> dict[str, str]:
    """Entry id by user id."""
    return {e.identity.user_id: e.entry_id for e in read_entries(path)}


def write_legacy(path: Path) -> None:
    """A hand-written file holding a plain token, as before `safehold token`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({LEGACY_TOKEN: LEGACY_ENTRY}))
    path.chmod(0o600)


# -- create ----------------------------------------------------------------------------------


def test_create_prints_the_token_once_and_stores_only_its_digest(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "create", "--user", "alice", "--project", PROJECT)
    assert status == 0
    token = out.strip()
    assert out == token + "\n" and len(token) == 43  # stdout: the token alone
    assert token not in err and "shown once" in err
    text = tokens.read_text()
    assert token not in text and f"sha256:{token_digest(token)}" in text
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    identity = load_tokens(tokens).lookup(token)
    assert identity is not None
    assert (identity.user_id, identity.project_id, identity.roles) == (
        "alice",
        PROJECT,
        frozenset({"member"}),
    )
    (entry,) = read_entries(tokens)
    assert entry.entry_id in err and entry.created is not None and entry.rotated is None


def test_create_takes_several_roles_and_keeps_other_tokens(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = create(capsys, "alice")
    second = create(capsys, "ops", "admin", "member")
    third = create(capsys, "rita", "reader")
    assert len({first, second, third}) == 3
    table = load_tokens(tokens)
    found = [table.lookup(t) for t in (first, second, third)]
    assert [i.roles if i else None for i in found] == [
        frozenset({"member"}),
        frozenset({"admin", "member"}),
        frozenset({"reader"}),
    ]
    assert [i.read_only if i else None for i in found] == [False, False, True]


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--user", "alice", "--project", PROJECT, "--role", "owner"], 2),
        (["--user", " alice", "--project", PROJECT], 1),
        (["--user", "alice", "--project", ""], 1),
        (["--project", PROJECT], 2),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(
    tokens: Path, capsys: pytest.CaptureFixture[str], args: list[str], status: int
) -> None:
    assert run(capsys, "create", *args)[0] == status
    assert not tokens.exists()


def test_without_a_file_every_command_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SAFEHOLD_TOKENS_FILE", raising=False)
    for args in (["create", "--user", "u", "--project", "p"], ["list"], ["revoke", "x"]):
        status, out, err = run(capsys, *args)
        assert (status, out) == (1, "")
        assert err == "error: no tokens file: give --file or set SAFEHOLD_TOKENS_FILE\n"
    explicit = tmp_path / "elsewhere.json"
    assert run(capsys, "create", "--user", "u", "--project", "p", "--file", str(explicit))[0] == 0
    assert len(read_entries(explicit)) == 1


# -- list ------------------------------------------------------------------------------------


def test_list_shows_who_but_never_a_secret(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create(capsys, "ops", "admin")
    document = json.loads(tokens.read_text())
    tokens.write_text(json.dumps({**document, LEGACY_TOKEN: LEGACY_ENTRY}))  # edited by hand
    status, out, err = run(capsys, "list")
    assert status == 0 and err == ""
    for secret in (token, token_digest(token), LEGACY_TOKEN, token_digest(LEGACY_TOKEN)):
        assert secret not in out
    legacy_id = token_digest(LEGACY_TOKEN)[:12]  # an entry without an id: its digest's head
    for shown in (ids(tokens)["ops"], legacy_id, "ops", "carol", PROJECT, "admin", "sha256"):
        assert shown in out
    assert main(["--json", "token", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)["tokens"]
    assert [(t["user_id"], t["stored"], t["id"]) for t in listed] == [
        ("ops", "sha256", ids(tokens)["ops"]),
        ("carol", "token", legacy_id),
    ]
    assert set(listed[0]) == {"id", "user_id", "project_id", "roles", "created", "rotated"} | {
        "stored"
    }


def test_list_warns_about_a_file_others_may_read(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys)
    tokens.chmod(0o644)
    status, _, err = run(capsys, "list")
    assert status == 0 and "chmod 600" in err


def test_list_of_a_missing_or_broken_file_fails_naming_no_token(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "list")
    assert status == 1 and f"tokens file {tokens} cannot be read" in err
    tokens.parent.mkdir(parents=True)
    tokens.write_text(f'{{"{LEGACY_TOKEN}": {{"user_id": ')
    status, _, err = run(capsys, "list")
    assert status == 1 and "not valid JSON" in err and LEGACY_TOKEN not in err


# -- revoke and rotate -----------------------------------------------------------------------


def test_revoke_removes_only_that_token(tokens: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alice = create(capsys, "alice")
    bob = create(capsys, "bob")
    alice_id = ids(tokens)["alice"]
    status, out, err = run(capsys, "revoke", alice_id)
    assert (status, out) == (0, "")
    assert err == f"revoked token {alice_id} (user alice, project {PROJECT})\n"
    table = load_tokens(tokens)
    assert table.lookup(alice) is None and table.lookup(bob) is not None
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600


def test_revoke_refuses_an_unknown_id_and_the_last_token(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create(capsys)
    before = tokens.read_bytes()
    status, _, err = run(capsys, "revoke", "0123456789ab")
    assert status == 1 and "no token with id 0123456789ab" in err
    # The API refuses an empty tokens file: rotating is how to replace the only token.
    status, _, err = run(capsys, "revoke", ids(tokens)["alice"])
    assert status == 1 and "only token" in err and "rotate" in err
    assert tokens.read_bytes() == before
    assert load_tokens(tokens).lookup(token) is not None


def test_rotate_gives_a_new_secret_and_keeps_the_entry(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = create(capsys, "ops", "admin")
    (before,) = read_entries(tokens)
    status, out, err = run(capsys, "rotate", before.entry_id)
    new = out.strip()
    assert status == 0 and out == new + "\n" and new != old and new not in err
    table = load_tokens(tokens)
    assert table.lookup(old) is None
    assert table.lookup(new) == before.identity
    (after,) = read_entries(tokens)
    assert (after.entry_id, after.created) == (before.entry_id, before.created)
    assert after.rotated is not None


def test_any_write_hashes_the_plain_tokens_of_an_older_file(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_legacy(tokens)
    legacy_id = token_digest(LEGACY_TOKEN)[:12]
    create(capsys, "alice")
    assert LEGACY_TOKEN not in tokens.read_text()  # hashed, and still accepted
    assert load_tokens(tokens).lookup(LEGACY_TOKEN) is not None
    new = run(capsys, "rotate", legacy_id)[1].strip()
    assert ids(tokens)["carol"] == legacy_id  # the id it was listed under stays
    table = load_tokens(tokens)
    assert table.lookup(LEGACY_TOKEN) is None and table.lookup(new) is not None


def test_a_failed_write_leaves_the_file_as_it_was(
    tokens: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create(capsys)
    before = tokens.read_bytes()

    def refuse(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    status, out, err = run(capsys, "create", "--user", "bob", "--project", PROJECT)
    assert (status, out) == (1, "") and "No space left on device" in err
    assert tokens.read_bytes() == before
    assert sorted(p.name for p in tokens.parent.iterdir()) == [".tokens.json.lock", "tokens.json"]


def test_new_files_are_owner_only_whatever_the_umask(
    tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = os.umask(0)
    try:
        create(capsys)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600


# -- a running API -----------------------------------------------------------------------------


@pytest.fixture
def api(tokens: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[TestClient]:
    """The Cinder app under auth_mode=tokens on the file, started with one token."""
    create(capsys, "first")
    settings = Settings(
        data_dir=tokens.parent,
        catalog_url=f"sqlite:///{tokens.parent / 'catalog.db'}",
        auth_mode="tokens",
        tokens_file=tokens,
    )
    with TestClient(create_app(settings, RecordingLauncher())) as client:
        yield client


def status_with(client: TestClient, token: str) -> int:
    """The status of a project read with `token`."""
    response = client.get(f"/v3/{PROJECT}/backups", headers={"X-Auth-Token": token})
    return int(response.status_code)


def test_a_running_api_follows_create_rotate_and_revoke(
    api: TestClient, tokens: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create(capsys, "alice")
    assert status_with(api, token) == 200  # no restart
    rotated = run(capsys, "rotate", ids(tokens)["alice"])[1].strip()
    assert (status_with(api, token), status_with(api, rotated)) == (401, 200)
    assert run(capsys, "revoke", ids(tokens)["alice"])[0] == 0
    assert status_with(api, rotated) == 401


def test_a_broken_edit_keeps_the_tokens_read_before(
    api: TestClient,
    tokens: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = create(capsys, "alice")
    assert status_with(api, token) == 200
    caplog.set_level(logging.INFO)
    tokens.write_text("{not json")
    assert status_with(api, token) == 200
    assert "is not valid JSON" in caplog.text and "keeping the 2 tokens read before" in caplog.text
    tokens.unlink()
    assert status_with(api, token) == 200
    assert token not in caplog.text


def test_a_symlinked_file_stays_a_symlink(
    tokens: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "secrets" / "tokens.json"
    target.parent.mkdir()
    tokens.parent.mkdir()
    tokens.symlink_to(target)
    token = create(capsys)
    assert tokens.is_symlink() and tokens.resolve() == target
    assert load_tokens(target).lookup(token) is not None
