"""One database transaction: the state change and its events (outbox rows) commit together.

The handlers change bookings through ``uow.bookings``; the unit of work remembers which ones
were written and, at commit, stages the events they collected in the outbox in one statement.
The relay publishes them once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from care_plan.domain.events import DomainEvent
from care_plan.domain.model import Booking, Patient
from care_plan.persistence.read_model import ReadModel
from care_plan.persistence.repository import (
    BookingRepository,
    PatientRepository,
    SlotRepository,
)
from eventing.cloudevents import Event
from eventing.database import Connection, Database
from eventing.outbox import Outbox

# A booking's events -> (topic, CloudEvent) pairs; see messaging/outgoing.py.
MessageMapper = Callable[
    [Booking, Patient, Sequence[DomainEvent], str | None], list[tuple[str, Event]]
]


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
        self.patients = PatientRepository(connection)
        self.bookings = BookingRepository(connection)
        self.slots = SlotRepository(connection)
        self.read_model = ReadModel(connection)
        self._outbox = outbox
        self._messages = messages
        self._traceparent = traceparent

    async def commit(self) -> None:
        """Stage the events of every booking written so far; the owner of the transaction
        commits it. Positions follow the order of appearance, and so each topic's order."""
        messages: list[tuple[str, Event]] = []
        for booking in self.bookings.written:
            events = booking.collect_events()
            if not events:
                continue
            # The snapshot taken at the request; only bookings stored before it existed re-read.
            patient = booking.patient or await self.patients.get(booking.patient_id)
            if patient is None:  # the foreign key makes this impossible
                raise LookupError(f"booking {booking.id} has no patient")
            messages += self._messages(booking, patient, events, self._traceparent)
        self.bookings.written.clear()
        await self._outbox.add_all(self.connection, messages)


class UnitOfWorkFactory:
    def __init__(self, database: Database, *, outbox: Outbox, messages: MessageMapper) -> None:
        self._database = database
        self._outbox = outbox
        self._messages = messages

    @asynccontextmanager
    async def begin(self, *, traceparent: str | None = None) -> AsyncIterator[UnitOfWork]:
        """A new transaction, committed with its events when the block ends without an
        exception."""
        async with self._database.transaction() as connection:
            uow = self._unit(connection, traceparent)
            yield uow
            await uow.commit()

    @asynccontextmanager
    async def joining(
        self, connection: Connection, *, traceparent: str | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """A unit of work inside a transaction someone else owns (the inbox's): its events are
        staged when the block ends; the owner commits or rolls back."""
        uow = self._unit(connection, traceparent)
        yield uow
        await uow.commit()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[UnitOfWork]:
        """Reads without a transaction of their own (one statement each): no BEGIN/COMMIT."""
        async with self._database.connection() as connection:
            yield self._unit(connection, None)

    def _unit(self, connection: Connection, traceparent: str | None) -> UnitOfWork:
        return UnitOfWork(
            connection, outbox=self._outbox, messages=self._messages, traceparent=traceparent
        )
