"""Per-process access to settings, catalog and object store for flow runs.

Built lazily on first use in the flow-run process (never at import), from the same
SAFEHOLD_* environment the service was started with.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine
from sqlmodel import Session

from storage.catalog import make_engine
from storage.objects import ObjectStore, open_store_from_settings
from storage.settings import Settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The service settings of this process."""
    return Settings()


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def session() -> Session:
    """A new catalog session (use as a context manager)."""
    return Session(_engine(settings().resolved_catalog_url()))


def store() -> ObjectStore:
    """The backup object store (fault-injecting when the test-only fault file is set)."""
    return open_store_from_settings(settings())
