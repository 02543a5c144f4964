"""Database instances: one database on a configured datastore (SQLite, PostgreSQL,
MariaDB), created, measured, dumped as a stream and restored through one protocol."""

from __future__ import annotations

from storage.sources.databases.config import ServerConfig, canonical_type
from storage.sources.databases.configured import configured_datastores, open_datastore
from storage.sources.databases.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DatastoreError,
    DumpFailed,
    RestoreFailed,
    ServerUnavailable,
)
from storage.sources.databases.mariadb import MariadbDatastore
from storage.sources.databases.names import checked_name
from storage.sources.databases.postgresql import PostgresqlDatastore
from storage.sources.databases.protocol import Datastore
from storage.sources.databases.sqlite import SqliteDatastore

__all__ = [
    "DatabaseExists",
    "DatabaseNotFound",
    "Datastore",
    "DatastoreError",
    "DumpFailed",
    "MariadbDatastore",
    "PostgresqlDatastore",
    "RestoreFailed",
    "ServerConfig",
    "ServerUnavailable",
    "SqliteDatastore",
    "canonical_type",
    "checked_name",
    "configured_datastores",
    "open_datastore",
]
