"""One database transaction: the state change and its events (outbox rows) commit together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from eventing.cloudevents import Event
from eventing.database import Connection, Database
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
        connection: Connection,
        *,
        outbox: Outbox,
        messages: MessageMapper,
        traceparent: str | None = None,
    ) -> None:
        self.connection = connection
        self.providers = ProviderRepository(connection)
        self.availabilities = AvailabilityRepository(connection)
        self.cancelled_bookings = CancelledBookingRepository(connection)
        self._outbox = outbox
        self._messages = messages
        # The trace the unit's events continue, unless ``publish_traced`` gives each its own.
        self.traceparent = traceparent

    async def publish(self, *events: DomainEvent) -> None:
        """Stage the events in this transaction; the relay publishes them once it commits."""
        await self.publish_traced([(event, self.traceparent) for event in events])

    async def publish_traced(self, events: Sequence[tuple[DomainEvent, str | None]]) -> None:
        """``publish``, each event continuing the trace given with it (a unit that answers
        many messages continues each one's)."""
        messages = [self._messages(event, traceparent) for event, traceparent in events]
        await self._outbox.add_all(self.connection, messages)


class UnitOfWorkFactory:
    def __init__(
        self,
        database: Database,
        *,
        outbox: Outbox,
        messages: MessageMapper,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._messages = messages

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[UnitOfWork]:
        """A new transaction, committed when the block ends without an exception."""
        async with self._database.transaction() as connection:
            yield self.joining(connection)

    def joining(self, connection: Connection, *, traceparent: str | None = None) -> UnitOfWork:
        """A unit of work inside a transaction someone else owns (the inbox's)."""
        return UnitOfWork(
            connection, outbox=self._outbox, messages=self._messages, traceparent=traceparent
        )
