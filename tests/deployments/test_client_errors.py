"""Fault rendering and the HTTP boundary: every failure becomes one readable line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from deployments.cli import main
from deployments.client.errors import ApiError, OperationFailed, TransportError, parse_fault
from deployments.client.http import Api


def test_openstack_fault_bodies_read_like_the_openstack_clients() -> None:
    body = json.dumps({"itemNotFound": {"code": 404, "message": "Backup b1 could not be found."}})
    error = parse_fault(404, body)
    assert (error.status, error.fault) == (404, "itemNotFound")
    assert str(error) == "Backup b1 could not be found. (HTTP 404 itemNotFound)"


def test_other_error_bodies_still_give_one_line() -> None:
    assert str(parse_fault(422, '{"detail": "bad"}')) == "bad (HTTP 422)"
    assert (
        str(parse_fault(502, "<html>\n<b>Bad</b>\n</html>"))
        == "<html> <b>Bad</b> </html> (HTTP 502)"
    )
    assert str(parse_fault(503, "")) == "Service Unavailable (HTTP 503)"
    assert len(str(parse_fault(500, "x" * 5000))) < 300


def test_operation_failures_carry_their_reason() -> None:
    assert (
        str(OperationFailed("backup b1", "error", "disk full"))
        == "backup b1 ended error: disk full"
    )
    assert str(OperationFailed("share s1", "error")) == "share s1 ended error"


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The operator's own config file and SAFEHOLD_* settings stay out of these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("SAFEHOLD_CONFIG", "SAFEHOLD_URL", "SAFEHOLD_TOKEN", "SAFEHOLD_PROJECT"):
        monkeypatch.delenv(name, raising=False)


def _api(handler: httpx.MockTransport) -> Api:
    return Api(httpx.Client(transport=handler), "http://api.test/v3/p", {"X-Auth-Token": "t"})


def test_error_answers_raise_api_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        fault = {"forbidden": {"code": 403, "message": "Policy doesn't allow x."}}
        return httpx.Response(403, json=fault)

    with pytest.raises(ApiError, match=r"Policy doesn't allow x\. \(HTTP 403 forbidden\)"):
        _api(httpx.MockTransport(answer)).get("/backups")


def test_empty_answers_are_empty_bodies_and_404_is_not_found() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(202)
        return httpx.Response(404, json={"itemNotFound": {"code": 404, "message": "gone"}})

    api = _api(httpx.MockTransport(answer))
    assert api.delete("/backups/b1") == {}
    assert api.find("/backups/b1", "backup") is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_names_the_url() -> None:
    port = _closed_port()
    api = Api(httpx.Client(), f"http://127.0.0.1:{port}/v3/p", {})
    with pytest.raises(TransportError) as caught:
        api.get("/volumes")
    assert str(caught.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"


def test_the_command_prints_one_line_and_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("SAFEHOLD_URL", f"http://127.0.0.1:{port}")
    assert main(["volume", "list"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: cannot reach http://127.0.0.1:{port}: connection refused\n"


def test_configuration_errors_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEHOLD_URL", "ftp://nowhere")
    assert main(["backup", "list"]) == 2
    assert capsys.readouterr().err.startswith("error: url must be an http(s) URL")
