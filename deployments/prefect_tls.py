"""One verified TLS context for every Prefect client of a process, instead of one each.

Prefect's client builds a fresh `ssl.create_default_context(cafile=certifi.where())` each
time it is made (prefect.client.orchestration), and a sync task in an async flow makes
its own client: parsing the CA bundle took 120 ms per task here, a third of a small
backup's flow body (4 tasks: 0.5 s). A context verified against the same file is
reusable by any number of clients (httpx and httpcore only set the same ALPN list on it),
so `share_verified_contexts` gives Prefect's client module a stand-in for `ssl` whose
`create_default_context(cafile=F)` returns one context per F; everything else, the
insecure branch's unverified context included, is the real module's.
"""

from __future__ import annotations

import ssl
import threading
from types import ModuleType
from typing import Any


class _SharedContexts:
    """The `ssl` module as seen by Prefect's client module, verified contexts shared."""

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


def share_verified_contexts() -> None:
    """Make Prefect's clients in this process share verified TLS contexts; idempotent."""
    import prefect.client.orchestration as orchestration

    if not isinstance(getattr(orchestration, "ssl", None), _SharedContexts):
        setattr(orchestration, "ssl", _SharedContexts(ssl))  # noqa: B010 (not a public name)
