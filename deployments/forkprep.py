"""Imported last by the warm fork server (deployments/warm.py): the once-per-process work
of a run's first task, done before anything is forked.

Without it every run paid ~0.2 s in its first task (claim_backup 0.23 s against 0.03 s
for later catalog tasks): the catalog's SQL dialects to import and its ORM mappers to
configure, Prefect's visualization module to import (the flow engine does at a run's
first task), and a full garbage collection walking every object the imports left; and
every sync task paid 120 ms for a TLS context of its own (deployments/prefect_tls.py). The
heap is then frozen (gc.freeze), so a run's collections skip what the fork server made:
they no longer touch, and so copy, those pages (about 30 MiB of a run's private memory).
Nothing here leaves a file, socket or connection open: a fork must not share one.
"""

from __future__ import annotations

import gc
import importlib

# Imported at a run's first task otherwise.
MODULES = (
    "prefect.utilities.visualization",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "storage.catalog.models",
    "storage.catalog.share_models",
    "storage.catalog.db_models",
    "storage.catalog.policy_models",
)


def prepare() -> None:
    """Import what a first task imports, configure the ORM mappers, share Prefect's TLS
    contexts, freeze the heap."""
    from sqlalchemy.orm import configure_mappers

    from deployments.prefect_tls import prepare_prefect_context

    for name in MODULES:
        importlib.import_module(name)
    configure_mappers()
    prepare_prefect_context()
    gc.collect()
    gc.freeze()


prepare()
