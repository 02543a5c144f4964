"""Prefect's clients share one verified TLS context per CA file (deployments/prefect_tls)."""

from __future__ import annotations

import importlib
import ssl
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.client.orchestration import PrefectClient, SyncPrefectClient

from deployments import prefect_tls
from deployments.prefect_tls import (
    MODULES,
    _SharedContexts,
    prepare_prefect_context,
    share_verified_contexts,
)


def _counting_ssl() -> tuple[SimpleNamespace, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def create_default_context(purpose: Any = None, **kw: Any) -> ssl.SSLContext:
        calls.append(kw)
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    return SimpleNamespace(create_default_context=create_default_context, CERT_NONE=0), calls


def test_one_context_per_ca_file_and_fresh_ones_for_anything_else() -> None:
    module, calls = _counting_ssl()
    shared = _SharedContexts(module)  # type: ignore[arg-type]
    first = shared.create_default_context(cafile="/ca.pem")
    assert shared.create_default_context(cafile="/ca.pem") is first
    assert shared.create_default_context(cafile="/other.pem") is not first
    # The insecure branch mutates its context: it must get its own every time.
    assert shared.create_default_context() is not shared.create_default_context()
    assert shared.create_default_context(cafile="/ca.pem", cadata="x") is not first
    assert len(calls) == 5  # /ca.pem once, /other.pem, two bare, one with cadata
    assert shared.CERT_NONE == 0  # everything else is the real module's


def test_prefect_clients_of_a_process_share_the_verified_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in MODULES:  # undone after the test
        monkeypatch.setattr(importlib.import_module(name), "ssl", ssl)
    monkeypatch.setattr(prefect_tls, "_shared", _SharedContexts(ssl))
    prepare_prefect_context()  # made now: a process forked after this finds it
    share_verified_contexts()  # idempotent: not wrapped twice
    for name in MODULES:
        assert importlib.import_module(name).ssl is prefect_tls._shared
    contexts = prefect_tls._shared._verified
    assert len(contexts) == 1  # certifi's bundle, or PREFECT_API_SSL_CERT_FILE's
    (made,) = contexts.values()
    SyncPrefectClient("http://127.0.0.1:9/api")
    PrefectClient("http://127.0.0.1:9/api")
    SyncPrefectClient("http://127.0.0.1:9/api")
    assert list(contexts.values()) == [made]
    assert made.verify_mode == ssl.CERT_REQUIRED
