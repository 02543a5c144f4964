"""The HTTP façade: OpenStack-shaped routes, auth, faults and version discovery.

It validates, guards and transitions rows in the catalog, starts flow runs by
deployment name through the Prefect client, and renders OpenStack bodies. It never
imports `flows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """`create_app` on first use: importing a small module of this package (api.tokens
    for `safehold token`, api.schedules for the runner) need not build the whole app."""
    if name == "create_app":
        from api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
