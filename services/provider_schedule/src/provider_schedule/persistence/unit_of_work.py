"""One database transaction: the state change and its events (outbox rows) commit together."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eventing.cloudevents import Event
from eventing.outbox import Outbox
from provider_schedule.domain.events import DomainEvent
from provider_schedule.persistence.repository import (
    AvailabilityRepository,
    CancelledBookingRepository,
    ProviderRepository,
)

# Maps a domain event to (topic, CloudEvent); see messaging/events.py.
MessageMapper = Callable[[DomainEvent, str | None], tuple[str, Event]]


class UnitOfWork:
    def __init__(
        self,
        session: AsyncSession,
        *,
        outbox: Outbox,
        messages: MessageMapper,
        traceparent: str | None = None,
    ) -> None:
        self.session = session
        self.providers = ProviderRepository(session)
        self.availabilities = AvailabilityRepository(session)
        self.cancelled_bookings = CancelledBookingRepository(session)
        self._outbox = outbox
        self._messages = messages
        self._traceparent = traceparent

    async def publish(self, *events: DomainEvent) -> None:
        """Stage the events in this transaction; the relay publishes them once it commits."""
        by_topic: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            topic, message = self._messages(event, self._traceparent)
            by_topic[topic].append(message)
        for topic, messages in by_topic.items():
            await self._outbox.add(self.session, topic, messages)


class UnitOfWorkFactory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        outbox: Outbox,
        messages: MessageMapper,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._messages = messages

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[UnitOfWork]:
        """A new transaction, committed when the block ends without an exception."""
        async with self._sessions.begin() as session:
            yield self.joining(session)

    def joining(self, session: AsyncSession, *, traceparent: str | None = None) -> UnitOfWork:
        """A unit of work inside a transaction someone else owns (the inbox's)."""
        return UnitOfWork(
            session, outbox=self._outbox, messages=self._messages, traceparent=traceparent
        )
