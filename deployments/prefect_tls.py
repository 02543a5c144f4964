"""One verified TLS context for every Prefect client of a process, instead of one each.

Prefect builds a fresh `ssl.create_default_context(cafile=certifi.where())` for each
client it makes (prefect.client.orchestration), each server-version check and each events
websocket, and a sync task in an async flow makes its own client: parsing the CA bundle
took 120 ms each time here, a third of a small backup's flow body (4 tasks: 0.5 s), and
the API paid it on every request that made a client. A context verified against the same
file is reusable by any number of clients (httpx and httpcore only set the same ALPN list
on it), so `share_verified_contexts` gives those Prefect modules a stand-in for `ssl`
whose `create_default_context(cafile=F)` returns one context per F; everything else, the
insecure branch's unverified context included, is the real module's.
"""

from __future__ import annotations

import importlib
import ssl
import threading
from types import ModuleType
from typing import Any


class _SharedContexts:
    """The `ssl` module as Prefect's modules (MODULES) see it, verified contexts shared."""

    def __init__(self, module: ModuleType) -> None:
        self._ssl = module
        self._lock = threading.Lock()
        self._verified: dict[str, ssl.SSLContext] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ssl, name)

    def create_default_context(
        self,
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: Any = None,
    ) -> ssl.SSLContext:
        """The shared context for a CA file alone; a new one for anything else."""
        if cafile is None or capath is not None or cadata is not None:
            made: ssl.SSLContext = self._ssl.create_default_context(
                purpose, cafile=cafile, capath=capath, cadata=cadata
            )
            return made
        with self._lock:
            context = self._verified.get(cafile)
            if context is None:
                context = self._verified[cafile] = self._ssl.create_default_context(
                    purpose, cafile=cafile
                )
            return context


# Prefect's modules that build a verified context for each client, version check or
# events websocket they make.
MODULES = (
    "prefect.client.orchestration",
    "prefect._internal.version_checking",
    "prefect._internal.websockets",
)
_shared = _SharedContexts(ssl)


def share_verified_contexts() -> None:
    """Make Prefect's clients, version checks and event sockets of this process share
    verified TLS contexts; idempotent."""
    for name in MODULES:
        module = importlib.import_module(name)
        if not isinstance(getattr(module, "ssl", None), _SharedContexts):
            setattr(module, "ssl", _shared)  # noqa: B010 (not a public name)


def prepare_prefect_context() -> None:
    """Build now the verified context Prefect will ask for (its CA file), so that a
    process forked from this one finds it made."""
    import certifi
    from prefect.settings import PREFECT_API_SSL_CERT_FILE

    share_verified_contexts()
    _shared.create_default_context(cafile=PREFECT_API_SSL_CERT_FILE.value() or certifi.where())
