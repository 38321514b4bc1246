"""Keeps a service's background loops (relay, consumers, sweepers) running.

``OutboxRelay.run`` and ``ConsumerRunner.run`` end with an exception when the database or the
broker goes away; a supervised loop is then restarted with a growing pause, so a service
rides out an outage instead of serving HTTP with its background work dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

logger = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]
RESTART_BACKOFF_SECONDS: Sequence[float] = (0.5, 1.0, 2.0, 5.0)


async def supervised(
    name: str,
    work: Worker,
    stop: asyncio.Event,
    *,
    backoff: Sequence[float] = RESTART_BACKOFF_SECONDS,
) -> None:
    """Run ``work(stop)`` until ``stop`` is set, restarting it after each failure."""
    failures = 0
    while not stop.is_set():
        try:
            await work(stop)
            failures = 0
        except Exception:
            delay = backoff[min(failures, len(backoff) - 1)]
            failures += 1
            logger.exception(
                "background worker failed, restarting", extra={"worker": name, "delay": delay}
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
