"""The datastores the operator configured, as the Trove routes see them.

Servers and credentials come from the environment (storage.sources.databases); the API
only ever shows types, versions and endpoints. A server's version is asked once a minute
at most: listing datastores must not hammer it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final

from api.faults import Fault
from api.trove.views import datastore_id, version_id
from storage.settings import Settings
from storage.sources.databases import Datastore, DatastoreError, configured_datastores

VERSION_TTL: Final = 60.0
# Trove serves MariaDB as the type "mysql" too.
ALIASES: Final = {"mysql": "mariadb"}
_lock = threading.Lock()
_versions: dict[str, tuple[float, str]] = {}


def datastores(settings: Settings) -> dict[str, Datastore]:
    """Every configured datastore by type (sqlite always)."""
    return configured_datastores(os.environ, settings.databases_dir)


def version_of(store: Datastore) -> str | None:
    """The server's version, cached for VERSION_TTL; None while it cannot be reached."""
    now = time.monotonic()
    with _lock:
        cached = _versions.get(store.type)
        if cached is not None and now - cached[0] < VERSION_TTL:
            return cached[1]
    try:
        version = store.version()
    except DatastoreError:
        return None
    with _lock:
        _versions[store.type] = (now, version)
    return version


def find(settings: Settings, name: str) -> Datastore:
    """The configured datastore named by type, alias (`mysql`) or id; 404 otherwise."""
    wanted = ALIASES.get(name.lower(), name.lower())
    for store in datastores(settings).values():
        if wanted in (store.type, datastore_id(store.type)):
            return store
    raise Fault(404, f"Datastore '{name}' cannot be found.")


def resolve(settings: Settings, kind: str | None, version: str | None) -> tuple[Datastore, str]:
    """The datastore and its version for a create request (sqlite when none is named);
    404 for an unknown type or version, 503 when its server cannot be reached."""
    store = find(settings, kind or "sqlite")
    actual = version_of(store)
    if actual is None:
        raise Fault(503, f"The {store.type} server cannot be reached; nothing was started.")
    if version not in (None, actual, version_id(store.type, actual)):
        raise Fault(404, f"Datastore version '{version}' cannot be found.")
    return store, actual
