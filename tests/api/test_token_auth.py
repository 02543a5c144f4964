"""auth_mode=tokens: only the tokens file's tokens get in, with their project and roles."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exceptions
from fastapi import FastAPI
from fastapi.testclient import TestClient
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from sqlmodel import Session, select

from api import create_app
from api.launcher import RecordingLauncher
from api.manila import create_manila_app
from api.tokens import TokenFileError, load_tokens, token_digest
from api.trove.app import create_trove_app
from storage import catalog
from storage.catalog import Volume
from storage.settings import Settings
from tests.live import serve

from .helpers import OTHER_PROJECT, PROJECT, make_volume

ADMIN_TOKEN = "adm-Zq8v3LrTn1wXy5Kp0sDf7GhJ2mBc9VuE"
MEMBER_TOKEN = "mem-Hk4pW9sQz2RtYx7Lc1VbN6mJ0aFg3DeU"
PREHASHED_TOKEN = "pre-Wd2Fh7Jk9Lp3Qs5Tv8Xz1Bn4Mc6Gr0Ye"
# Named "admin" but without the admin role: SAFEHOLD_ADMIN_USERS does not apply.
FAKE_ADMIN_TOKEN = "fak-Rt5Yu8Io1Pa4Sd7Fg0Hj3Kl6Zx9Cv2Bn"
READER_TOKEN = "rdr-Qa1Ws2Ed3Rf4Tg5Yh6Uj7Ik8Ol9Pz0Xc"
READER_MEMBER_TOKEN = "rdm-Zx0Cv9Bn8Mm7Lk6Jh5Gf4Ds3Aq2Wp1Eo"
TOKENS: dict[str, Any] = {
    ADMIN_TOKEN: {"user_id": "root", "project_id": OTHER_PROJECT, "roles": ["admin"]},
    MEMBER_TOKEN: {"user_id": "alice", "project_id": PROJECT, "roles": ["member"]},
    f"sha256:{token_digest(PREHASHED_TOKEN).upper()}": {
        "user_id": "bob",
        "project_id": PROJECT,
        "roles": [],
    },
    FAKE_ADMIN_TOKEN: {"user_id": "admin", "project_id": PROJECT},
    READER_TOKEN: {"user_id": "rita", "project_id": PROJECT, "roles": ["reader"]},
    READER_MEMBER_TOKEN: {"user_id": "ruth", "project_id": PROJECT, "roles": ["reader", "member"]},
}
UNAUTHORIZED = {
    "unauthorized": {"code": 401, "message": "The request you have made requires authentication."}
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The app fixtures' settings with token auth and the tokens above."""
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps(TOKENS))
    return Settings(
        data_dir=tmp_path,
        catalog_url=f"sqlite:///{tmp_path / 'catalog.db'}",
        admin_users="admin",
        auth_mode="tokens",
        tokens_file=tokens_file,
    )


def _token(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def test_member_token_acts_as_its_user_in_its_project(client: TestClient, app: FastAPI) -> None:
    response = client.post(
        f"/v3/{PROJECT}/volumes", json={"volume": {"size": 1}}, headers=_token(MEMBER_TOKEN)
    )
    assert response.status_code == 202, response.text
    with Session(app.state.engine) as db:
        volume = db.exec(select(Volume)).one()
    assert (volume.user_id, volume.project_id) == ("alice", PROJECT)


@pytest.mark.parametrize(
    ("token", "project", "status"),
    [
        (ADMIN_TOKEN, OTHER_PROJECT, 202),
        (MEMBER_TOKEN, PROJECT, 403),
        (FAKE_ADMIN_TOKEN, PROJECT, 403),
    ],
    ids=["admin-role", "member-role", "user-admin-without-role"],
)
def test_admin_role_decides_admin_only_routes(
    client: TestClient, launcher: RecordingLauncher, token: str, project: str, status: int
) -> None:
    response = client.post(f"/v1/{project}/catalog/rebuild", headers=_token(token))
    assert response.status_code == status, response.text
    assert len(launcher.submissions) == (1 if status == 202 else 0)


def test_a_reader_reads_and_is_refused_any_change(
    client: TestClient, session: Session, settings: Settings, launcher: RecordingLauncher
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    reader = _token(READER_TOKEN)
    assert client.get(f"/v3/{PROJECT}/volumes/{volume.id}", headers=reader).status_code == 200
    assert client.get(f"/v3/volumes/{volume.id}", headers=reader).status_code == 200
    url = f"/v3/{PROJECT}/volumes"
    response = client.post(url, json={"volume": {"size": 1}}, headers=reader)
    assert response.status_code == 403
    assert response.json() == {
        "forbidden": {
            "code": 403,
            "message": f"Policy doesn't allow POST {url} to be performed: "
            "the reader role may only read.",
        }
    }
    # Refused before the route looks at anything: an empty body, an unknown id alike.
    for method, path in (("POST", url), ("DELETE", f"{url}/{volume.id}"), ("DELETE", f"{url}/x")):
        assert client.request(method, path, headers=reader).status_code == 403
    assert launcher.submissions == []
    session.expire_all()
    assert [v.id for v in session.exec(select(Volume))] == [volume.id]
    # The URL's project is checked first, as for every caller.
    assert client.post(f"/v3/{OTHER_PROJECT}/volumes", headers=reader).status_code == 400


def test_reader_and_member_together_may_write(client: TestClient) -> None:
    response = client.post(
        f"/v3/{PROJECT}/volumes",
        json={"volume": {"size": 1}},
        headers=_token(READER_MEMBER_TOKEN),
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("factory", "method", "path"),
    [
        (create_manila_app, "POST", "/v2/shares"),
        (create_manila_app, "DELETE", f"/v2/{PROJECT}/shares/x"),
        (create_trove_app, "POST", f"/v1.0/{PROJECT}/instances"),
        (create_trove_app, "DELETE", f"/v1.0/{PROJECT}/backups/x"),
    ],
)
def test_every_dialect_refuses_a_readers_change_with_its_403_fault(
    settings: Settings, factory: Callable[..., FastAPI], method: str, path: str
) -> None:
    with TestClient(factory(settings, RecordingLauncher())) as client:
        response = client.request(method, path, headers=_token(READER_TOKEN))
        listed = client.get(path.rsplit("/x", 1)[0], headers=_token(READER_TOKEN))
    assert response.status_code == 403
    assert response.json()["forbidden"]["code"] == 403
    assert listed.status_code == 200


def test_admin_token_reads_other_projects(
    client: TestClient, session: Session, settings: Settings
) -> None:
    volume = make_volume(session, settings.volumes_dir)
    url = f"/v3/{OTHER_PROJECT}/volumes/{volume.id}"
    assert client.get(url, headers=_token(ADMIN_TOKEN)).status_code == 200


def test_prehashed_key_accepts_the_token_not_its_digest(client: TestClient) -> None:
    url = f"/v3/{PROJECT}/backups"
    assert client.get(url, headers=_token(PREHASHED_TOKEN)).status_code == 200
    digest = token_digest(PREHASHED_TOKEN)
    for key in (digest, f"sha256:{digest}"):
        assert client.get(url, headers=_token(key)).status_code == 401


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "unknown-Xy7Qw2Er5Ty8Ui1Op4As7Df0Gh3Jk",
        f"alice:{PROJECT}",  # noauth forms mean nothing here
        f"admin:{PROJECT}",
        "admin",
        "notused",
        MEMBER_TOKEN + "x",
        MEMBER_TOKEN[:-1],
    ],
)
def test_unknown_or_missing_token_is_unauthorized_and_never_echoed(
    client: TestClient, caplog: pytest.LogCaptureFixture, token: str | None
) -> None:
    caplog.set_level(logging.DEBUG)
    response = client.get(f"/v3/{PROJECT}/backups", headers={} if token is None else _token(token))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert "refused" in caplog.text  # the refusal is logged ...
    if token:  # ... but never the token
        assert token not in response.text
        assert token not in caplog.text
        assert token not in str(response.headers)


def test_accepted_tokens_are_not_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    member = _token(MEMBER_TOKEN)
    assert client.get(f"/v3/{PROJECT}/backups", headers=member).status_code == 200
    assert client.get(f"/v3/{OTHER_PROJECT}/backups", headers=member).status_code == 400
    assert caplog.records  # the requests were logged (httpx), without the token
    assert MEMBER_TOKEN not in caplog.text


def test_token_on_another_projects_url_is_malformed_url(client: TestClient) -> None:
    response = client.get(f"/v3/{OTHER_PROJECT}/backups", headers=_token(MEMBER_TOKEN))
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == (
        f"Malformed request URL: URL's project_id '{OTHER_PROJECT}' doesn't match "
        f"Context's project_id '{PROJECT}'"
    )


def test_discovery_stays_open(client: TestClient) -> None:
    assert client.get("/").status_code == 300
    assert client.get("/v3").status_code == 200


def test_only_digests_are_held(settings: Settings) -> None:
    assert settings.tokens_file is not None
    table = load_tokens(settings.tokens_file)
    assert len(table) == len(TOKENS)
    held = repr(vars(table))
    assert all(token not in held for token in (ADMIN_TOKEN, MEMBER_TOKEN, FAKE_ADMIN_TOKEN))


SECRET = "sec-Lm3Nb6Vc9Xz2Aq5Ws8Ed1Rf4Tg7Yh0Uj"
GOOD = {"user_id": "u", "project_id": "p", "roles": ["admin"]}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot be read"),
        (f'{{"{SECRET}": {{"user_id": "u",', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ([SECRET], "non-empty JSON object"),
        ({}, "non-empty JSON object"),
        ({SECRET: "admin"}, "entry 1 must be an object"),
        ({"ok-token": GOOD, SECRET: {"user_id": "u"}}, "entry 2: project_id: Field required"),
        ({SECRET: {**GOOD, "project_id": ""}}, "entry 1: project_id"),
        ({SECRET: {**GOOD, "roles": "admin"}}, "entry 1: roles"),
        ({SECRET: {**GOOD, "role": ["admin"]}}, "entry 1: role: Extra inputs"),
        ({"sha256:abc": GOOD}, "entry 1: a sha256: key needs 64 hex digits"),
        ({f"{SECRET} ": GOOD}, "entry 1: a token must be visible ASCII"),
        (
            {SECRET: GOOD, f"sha256:{token_digest(SECRET)}": GOOD},
            "entry 2 repeats an earlier token",
        ),
        (f'{{"{SECRET}": {json.dumps(GOOD)}, "{SECRET}": {json.dumps(GOOD)}}}', "repeats a key"),
    ],
)
def test_startup_refuses_a_bad_tokens_file(
    tmp_path: Path, settings: Settings, content: object, reason: str
) -> None:
    path = tmp_path / "bad-tokens.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_text(json.dumps(content))
    bad = settings.model_copy(update={"tokens_file": path})
    with pytest.raises(TokenFileError) as caught:
        create_app(bad, RecordingLauncher())
    message = str(caught.value)
    assert message.startswith(f"tokens file {path}")
    assert reason in message
    assert SECRET not in message


def test_tokens_mode_without_a_file_refuses_to_start(settings: Settings) -> None:
    bad = settings.model_copy(update={"tokens_file": None})
    with pytest.raises(TokenFileError, match="SAFEHOLD_TOKENS_FILE"):
        create_app(bad, RecordingLauncher())


def test_settings_read_auth_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFEHOLD_AUTH_MODE", "tokens")
    monkeypatch.setenv("SAFEHOLD_TOKENS_FILE", str(tmp_path / "t.json"))
    settings = Settings()
    assert (settings.auth_mode, settings.tokens_file) == ("tokens", tmp_path / "t.json")
    monkeypatch.setenv("SAFEHOLD_AUTH_MODE", "keystone")
    with pytest.raises(ValueError, match="auth_mode"):
        Settings()


def test_cinderclient_with_a_static_token(app: FastAPI, settings: Settings) -> None:
    with serve(app) as url:
        with Session(app.state.engine) as db:
            volume = make_volume(db, settings.volumes_dir)

        def cinder(token: str) -> Any:
            auth = token_endpoint.Token(endpoint=f"{url}/v3/{PROJECT}", token=token)
            return cinder_client.Client("3.64", session=ks_session.Session(auth=auth))

        member = cinder(MEMBER_TOKEN)
        backup = member.backups.create(volume.id, name="nightly")
        assert [b.id for b in member.backups.list()] == [backup.id]
        assert member.backups.get(backup.id).name == "nightly"
        with pytest.raises(cinder_exceptions.Unauthorized):
            cinder(f"alice:{PROJECT}").backups.list()


def test_cinderclient_on_project_less_urls_acts_in_the_tokens_project(
    app: FastAPI, settings: Settings
) -> None:
    # Cinder 3.67: the endpoint has no project; the static token's project is used.
    with serve(app) as url:
        with Session(app.state.engine) as db:
            volume = make_volume(db, settings.volumes_dir)

        def cinder(token: str) -> Any:
            auth = token_endpoint.Token(endpoint=f"{url}/v3", token=token)
            return cinder_client.Client("3.71", session=ks_session.Session(auth=auth))

        member = cinder(MEMBER_TOKEN)
        snapshot = member.volume_snapshots.create(volume.id, name="snap")
        with Session(app.state.engine) as db:  # what the create-snapshot flow does last
            assert catalog.finish_snapshot(session=db, snapshot_id=snapshot.id)
        backup = member.backups.create(volume.id, name="nightly", snapshot_id=snapshot.id)
        assert [b.id for b in member.backups.list()] == [backup.id]
        assert [s.id for s in member.volume_snapshots.list()] == [snapshot.id]
        assert member.volumes.get(volume.id).status == "available"
        assert cinder(ADMIN_TOKEN).backups.list() == []  # the admin token's own project
        with pytest.raises(cinder_exceptions.Unauthorized):
            cinder(f"alice:{PROJECT}").backups.list()
