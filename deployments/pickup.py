"""Event-driven pickup: the runner asks for work when the server says a run is scheduled.

A polling runner starts a run half a poll period late on average, and a short period
costs the server idle CPU (../PREFECT-NOTES "Start latency": 3.5 % at 1 s, 8 % at 0.2 s).
Prefect's server publishes `prefect.flow-run.Scheduled` on its event stream the moment a
run is created; on each one the runner runs its own poll once. Its periodic poll stays as
the fallback (a lost event, a dropped websocket), at a slow period.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.runner import Runner

log = logging.getLogger("safehold.pickup")

SCHEDULED: Final = "prefect.flow-run.Scheduled"
RECONNECT_SECONDS: Final = 2.0


async def follow_events(runner: Runner) -> None:
    """Until cancelled: on every scheduled flow run, have `runner` claim what it serves.

    Never raises: a broken subscription is logged and retried; the poll covers the gap.
    """
    while not runner.started:
        await asyncio.sleep(0.05)
    while True:
        try:
            await _subscribe(runner)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the websocket or the server went away: poll meanwhile
            log.warning("event pickup interrupted (%s); retrying in %ss", exc, RECONNECT_SECONDS)
        await asyncio.sleep(RECONNECT_SECONDS)


async def _subscribe(runner: Runner) -> None:
    wanted = EventFilter(event=EventNameFilter(name=[SCHEDULED]))
    async with get_events_subscriber(filter=wanted, reconnect_on_clean_close=True) as events:
        log.info("event pickup subscribed to %s", SCHEDULED)
        async for event in events:
            if runner.stopping:
                return
            log.debug("scheduled: %s", event.resource.id)
            # Prefect's own poll: claims every due run of our deployments, once each
            # (runs already being submitted are skipped; the server refuses a second claim).
            await runner._scheduled_run_poller._get_and_submit_flow_runs()
