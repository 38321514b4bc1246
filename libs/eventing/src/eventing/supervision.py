"""Keeps a service's background loops (relay, consumers, sweepers) running.

``OutboxRelay.run`` and ``ConsumerRunner.run`` end with an exception when the database or the
broker goes away; a supervised loop is then restarted with a growing pause, so a service
rides out an outage instead of serving HTTP with its background work dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

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


class WorkerGroup:
    """A service's background loops: started together, each supervised, stopped together, and
    a readiness check that fails when one of them is no longer running."""

    def __init__(self, workers: Mapping[str, Worker]) -> None:
        self._workers = dict(workers)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(supervised(name, work, self._stop), name=name)
            for name, work in self._workers.items()
        ]

    async def stop(self, timeout: float = 15.0) -> None:
        """Let the loops finish the record or batch in hand; cancel what does not stop in time."""
        self._stop.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            logger.warning("worker did not stop in time", extra={"worker": task.get_name()})
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []

    @property
    def alive(self) -> bool:
        return len(self._tasks) == len(self._workers) and not any(t.done() for t in self._tasks)

    async def readiness_check(self) -> None:
        if not self.alive:
            stopped = [t.get_name() for t in self._tasks if t.done()] or list(self._workers)
            raise RuntimeError(f"background workers not running: {', '.join(stopped)}")
