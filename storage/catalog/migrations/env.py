"""Alembic environment: runs on the connection handed over by storage.catalog.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import storage.catalog.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import storage.catalog.share_models  # noqa: F401

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    """Run migrations on the given connection, or on sqlalchemy.url when run by hand."""
    conn = config.attributes.get("connection")
    if conn is None:
        url = config.get_main_option("sqlalchemy.url") or "sqlite:///var/catalog.db"
        with create_engine(url).begin() as own:
            context.configure(connection=own, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
