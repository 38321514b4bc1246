"""In-memory stand-ins for the unit of work and its repositories, for handler tests.

Bookings are stored and read back as copies, as the database does: a handler that forgets to
write a change loses it here too.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

from care_plan.domain.decisions import KeyedBooking, KnownSlot
from care_plan.domain.errors import SlotNotBookableError
from care_plan.domain.model import Booking, Patient
from care_plan.messaging.outgoing import to_messages
from care_plan.persistence.repository import IdempotencyKeyTakenError
from eventing.audit import AuditEntry
from eventing.cloudevents import Event


class FakePatients:
    def __init__(self) -> None:
        self.rows: dict[UUID, Patient] = {}

    async def add(self, patient: Patient) -> None:
        self.rows[patient.id] = patient

    async def get(self, patient_id: UUID) -> Patient | None:
        return self.rows.get(patient_id)

    async def replace(self, patient: Patient) -> bool:
        if patient.id not in self.rows:
            return False
        self.rows[patient.id] = patient
        return True


class FakeBookings:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[Booking, str | None]] = {}
        self.written: list[Booking] = []
        # Plays requests with the same key that commit while this one runs: each ``add`` takes
        # the next, stores it and fails as the key's unique index does.
        self.concurrent: list[tuple[Booking, str]] = []

    async def add(self, booking: Booking, *, fingerprint: str | None) -> None:
        if self.concurrent:
            other, other_fingerprint = self.concurrent.pop(0)
            self.rows[other.id] = (_stored(other), other_fingerprint)
            raise IdempotencyKeyTakenError("bookings_idempotency_key")
        if any(
            b.availability_id == booking.availability_id and b.is_live
            for b, _ in self.rows.values()
        ):
            raise SlotNotBookableError("the availability is held by another booking")
        self.rows[booking.id] = (_stored(booking), fingerprint)
        self.written.append(booking)

    async def save(self, booking: Booking) -> None:
        await self.save_many([booking])

    async def save_many(self, bookings: Sequence[Booking]) -> None:
        for booking in bookings:
            self.rows[booking.id] = (_stored(booking), self.rows[booking.id][1])
        self.written.extend(bookings)

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None:
        row = self.rows.get(booking_id)
        return copy.deepcopy(row[0]) if row else None

    async def get_many(
        self, booking_ids: Sequence[UUID], *, for_update: bool = False
    ) -> dict[UUID, Booking]:
        return {
            i: copy.deepcopy(self.rows[i][0]) for i in sorted(set(booking_ids)) if i in self.rows
        }

    async def by_idempotency_key(self, patient_id: UUID, key: str) -> KeyedBooking | None:
        for booking, fingerprint in self.rows.values():
            if booking.patient_id == patient_id and booking.idempotency_key == key:
                return KeyedBooking(copy.deepcopy(booking), fingerprint)
        return None

    async def live_for_slot(self, availability_id: UUID) -> list[Booking]:
        return [
            copy.deepcopy(b)
            for b, _ in self.rows.values()
            if b.availability_id == availability_id and b.is_live
        ]

    async def for_patient(self, patient_id: UUID) -> list[Booking]:
        return [copy.deepcopy(b) for b, _ in self.rows.values() if b.patient_id == patient_id]


def _stored(booking: Booking) -> Booking:
    return copy.deepcopy(dataclasses.replace(booking, events=[]))


class FakeSlots:
    def __init__(self) -> None:
        self.rows: dict[UUID, KnownSlot] = {}

    async def lock(self, availability_id: UUID) -> KnownSlot | None:
        return self.rows.get(availability_id)

    async def lock_many(self, availability_ids: Collection[UUID]) -> dict[UUID, KnownSlot]:
        return {i: self.rows[i] for i in sorted(availability_ids) if i in self.rows}

    async def hold(self, availability_id: UUID, booking_id: UUID) -> None:
        slot = self.rows[availability_id]
        self.rows[availability_id] = dataclasses.replace(
            slot, hold=dataclasses.replace(slot.hold, held_by=booking_id)
        )

    async def release(self, bookings: Sequence[Booking]) -> None:
        for booking in bookings:
            slot = self.rows[booking.availability_id]
            if slot.hold.held_by == booking.id:
                self.rows[slot.id] = dataclasses.replace(
                    slot, hold=dataclasses.replace(slot.hold, held_by=None)
                )


class FakeUnitOfWork:
    """``commit`` maps the written bookings' events with the real mapper, as the real
    factory does when a block ends."""

    def __init__(self) -> None:
        self.patients = FakePatients()
        self.bookings = FakeBookings()
        self.slots = FakeSlots()
        self.published: list[tuple[str, Event]] = []
        self.commits = 0

    async def commit(self) -> None:
        for booking in self.bookings.written:
            patient = booking.patient or self.patients.rows[booking.patient_id]
            self.published += to_messages(booking, patient, booking.collect_events())
        self.bookings.written.clear()
        self.commits += 1

    def types(self) -> list[str]:
        return [event.type for _, event in self.published]


class FakeUnits:
    """A ``UnitOfWorkFactory`` over one shared fake store; an exception rolls nothing back
    here, so the tests that raise look at the events, which are only staged at commit."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.begun = 0
        self.traceparents: list[str | None] = []
        self.audits: list[AuditEntry | None] = []

    @asynccontextmanager
    async def begin(
        self, *, traceparent: str | None = None, audit: AuditEntry | None = None
    ) -> AsyncIterator[FakeUnitOfWork]:
        self.begun += 1
        self.traceparents.append(traceparent)
        self.audits.append(audit)
        yield self.uow
        await self.uow.commit()
