"""The expiry sweeper: waiting bookings past their deadline become ``EXPIRED``.

Only bookings whose deadline lies before the last moment the reply consumer group was caught
up (``reply_progress``): our own outage or rebalance never expires a booking whose reply is
waiting in the topic. Safe with several replicas: each expiry locks the slot and the booking
and re-checks the status, so a booking expires once, and a reply that won the race leaves it
alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from care_plan.domain import commands
from care_plan.domain.model import Outcome
from care_plan.service_layer import handlers
from care_plan.service_layer.handlers import BookingClock
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory

logger = logging.getLogger(__name__)


class ExpirySweeper:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        clock: BookingClock,
        *,
        replies_read_until: Callable[[], Awaitable[datetime | None]],
        interval_seconds: float,
        batch_size: int = 100,
    ) -> None:
        """:param replies_read_until: a time before which every reply was applied, or None."""
        self._units = units
        self._clock = clock
        self._replies_read_until = replies_read_until
        self._interval = interval_seconds
        self._batch_size = batch_size

    async def sweep_once(self) -> int:
        """Expire what is overdue and surely got no reply; how many bookings this call expired."""
        read_until = await self._replies_read_until()
        if read_until is None:
            return 0  # replies may be waiting unread: judging deadlines now would be unfair
        async with self._units.reading() as uow:
            overdue = await uow.bookings.overdue(
                min(self._clock.now(), read_until), limit=self._batch_size
            )
        expired = 0
        for booking_id, _ in overdue:
            # One transaction per booking: one slow lock does not hold the others back.
            async with self._units.begin() as uow:
                outcome = await handlers.expire_booking(
                    commands.ExpireBooking(booking_id), uow, self._clock
                )
            if outcome is Outcome.APPLIED:
                expired += 1
                logger.info("booking expired", extra={"booking_id": str(booking_id)})
        return expired

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self.sweep_once() < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
