"""An operator's client of Safehold's HTTP API (Cinder, Manila, Trove, native /v1).

It talks HTTP only: nothing here imports api, flows or storage. `build_app` makes the
typer command tree that deployments.cli extends with the service's own commands.
"""

from deployments.client.app import build_app
from deployments.client.config import ClientConfig, resolve
from deployments.client.errors import (
    ApiError,
    ClientError,
    ConfigError,
    OperationFailed,
    TransportError,
    WaitInterrupted,
)

__all__ = [
    "ApiError",
    "ClientError",
    "ClientConfig",
    "ConfigError",
    "OperationFailed",
    "TransportError",
    "WaitInterrupted",
    "build_app",
    "resolve",
]
