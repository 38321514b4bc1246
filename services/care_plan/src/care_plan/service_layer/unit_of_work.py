"""One database transaction: the state change and its events (outbox rows) commit together.

The handlers change bookings through ``uow.bookings``, which remembers which ones were written;
when the block ends, the factory stages the events they collected in the outbox, in one
statement. The relay publishes them once the transaction has committed.
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
from eventing.audit import AuditEntry, AuditLog
from eventing.cloudevents import Event
from eventing.database import Connection, Database
from eventing.outbox import Outbox

# A booking's events -> (topic, CloudEvent) pairs; see messaging/outgoing.py.
MessageMapper = Callable[
    [Booking, Patient, Sequence[DomainEvent], str | None], list[tuple[str, Event]]
]


class UnitOfWork:
    """The repositories on one transaction's connection, and what was written through them."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.patients = PatientRepository(connection)
        self.bookings = BookingRepository(connection)
        self.slots = SlotRepository(connection)
        self.read_model = ReadModel(connection)

    def collect_new_events(self) -> list[tuple[Booking, list[DomainEvent]]]:
        """The events of the bookings written so far, each taken once, in order of appearance."""
        collected = [(b, events) for b in self.bookings.written if (events := b.collect_events())]
        self.bookings.written.clear()
        return collected


class UnitOfWorkFactory:
    """Opens units of work and, when a block ends without an exception, turns their new events
    into outbox rows in the same transaction."""

    def __init__(
        self, database: Database, *, outbox: Outbox, messages: MessageMapper, audit: AuditLog
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._messages = messages
        self._audit = audit

    @asynccontextmanager
    async def begin(
        self, *, traceparent: str | None = None, audit: AuditEntry | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """A new transaction, committed with its events (and ``audit``'s record, written
        before anything else: a block that fails leaves none, its caller records it apart)."""
        async with self._database.transaction() as connection:
            if audit is not None:
                await self._audit.append_on(connection, audit)
            uow = UnitOfWork(connection)
            yield uow
            await self._stage(uow, lambda _: traceparent)

    @asynccontextmanager
    async def joining(
        self,
        connection: Connection,
        *,
        traceparent: str | None = None,
        traceparent_of: Callable[[Booking], str | None] | None = None,
    ) -> AsyncIterator[UnitOfWork]:
        """A unit of work inside a transaction someone else owns (the inbox's): its events are
        staged when the block ends; the owner commits or rolls back. A booking's events carry
        ``traceparent_of`` it (a unit that applies many messages continues each one's trace),
        else ``traceparent``."""
        uow = UnitOfWork(connection)
        yield uow
        await self._stage(uow, traceparent_of or (lambda _: traceparent))

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[UnitOfWork]:
        """Reads without a transaction of their own (one statement each): no BEGIN/COMMIT."""
        async with self._database.connection() as connection:
            yield UnitOfWork(connection)

    async def _stage(
        self, uow: UnitOfWork, traceparent_of: Callable[[Booking], str | None]
    ) -> None:
        # One statement for the whole unit; positions keep the order of appearance, and so
        # each topic's order.
        messages: list[tuple[str, Event]] = []
        for booking, events in uow.collect_new_events():
            # The snapshot taken at the request; only bookings stored before it existed re-read.
            patient = booking.patient or await uow.patients.get(booking.patient_id)
            if patient is None:  # the foreign key makes this impossible
                raise LookupError(f"booking {booking.id} has no patient")
            messages += self._messages(booking, patient, events, traceparent_of(booking))
        await self._outbox.add_all(uow.connection, messages)
