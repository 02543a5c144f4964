"""Prefect global concurrency limits that bound how much data moves at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect.concurrency.asyncio import concurrency

# One slot per running backup or restore, across every runner sharing the server.
DATA_LIMIT = "safehold-data-movers"


@asynccontextmanager
async def data_slot() -> AsyncIterator[None]:
    """Hold one data-mover slot; waits while all are taken.

    strict=True: a missing limit is an error rather than, silently, no limit at all. A
    failed lease renewal must not kill a long backup, hence no raise on renewal failure.
    """
    async with concurrency(DATA_LIMIT, occupy=1, strict=True, raise_on_lease_renewal_failure=False):
        yield
