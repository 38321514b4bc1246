"""The real unit of work on a recording connection: the events of the bookings written through
it reach the outbox in one statement when the block ends, in order, and only once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from care_plan.domain.events import DomainEvent
from care_plan.domain.model import Booking, Patient, SlotSnapshot
from care_plan.messaging.outgoing import to_messages
from care_plan.persistence import tables
from care_plan.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from contract.events import EncounterType, PaymentMode
from eventing.audit import AuditEntry, AuditLog
from eventing.cloudevents import Event
from eventing.outbox import Outbox

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1991, 8, 6))


class RecordingConnection:
    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append((sql, args))
        return "UPDATE 1"

    def outbox_inserts(self) -> list[tuple[Any, ...]]:
        return [args for sql, args in self.statements if "outbox" in sql]


def _booking() -> Booking:
    start = NOW + timedelta(days=1)
    return Booking.request(
        id=uuid.uuid4(),
        patient_id=PATIENT.id,
        availability_id=uuid.uuid4(),
        payment_mode=PaymentMode.SELF_PAY,
        slot=SlotSnapshot(start, start, uuid.uuid4(), "GP", EncounterType.ONSITE),
        now=NOW,
        timeout=timedelta(seconds=30),
        patient=PATIENT,
    )


class RecordingDatabase:
    def __init__(self) -> None:
        self.connection = RecordingConnection()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[RecordingConnection]:
        yield self.connection


def _factory(
    database: RecordingDatabase, mapped: list[list[str]] | None = None
) -> UnitOfWorkFactory:
    def messages(
        booking: Booking, patient: Patient, events: Sequence[DomainEvent], traceparent: str | None
    ) -> list[tuple[str, Event]]:
        result = to_messages(booking, patient, events, traceparent)
        if mapped is not None:
            mapped.append([event.type for _, event in result])
        return result

    return UnitOfWorkFactory(
        database,  # type: ignore[arg-type]
        outbox=Outbox(tables.outbox),
        messages=messages,
        audit=AuditLog(database, tables.SCHEMA),  # type: ignore[arg-type]
    )


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_the_written_bookings_events_are_staged_in_one_statement_in_order() -> None:
    database, mapped = RecordingDatabase(), []
    first, second = _booking(), _booking()
    second.collect_events()
    second.cancel_by_provider("gone")  # one event, after the first booking's

    async with _factory(database, mapped).begin(traceparent=TRACEPARENT) as uow:
        await uow.bookings.save(first)
        await uow.bookings.save(second)
        assert database.connection.outbox_inserts() == []  # nothing before the block ends

    [insert] = database.connection.outbox_inserts()
    assert insert[3] == ["BOOKING_CREATION_REQUEST", "BOOKING_CANCELLED"]  # the types column
    assert set(insert[8]) == {TRACEPARENT}
    assert mapped == [["BOOKING_CREATION_REQUEST"], ["BOOKING_CANCELLED"]]


async def test_a_booking_not_written_publishes_nothing_and_new_events_are_taken_once() -> None:
    unsaved = _booking()  # its transition was never written: its event must not leave
    saved = _booking()
    uow = UnitOfWork(RecordingConnection())  # type: ignore[arg-type]

    await uow.bookings.save(saved)
    [(booking, events)] = uow.collect_new_events()

    assert booking is saved
    assert [type(e).__name__ for e in events] == ["BookingRequested"]
    assert uow.collect_new_events() == []
    assert unsaved.events  # still unpublished


async def test_a_booking_written_twice_in_one_unit_publishes_its_events_once() -> None:
    database = RecordingDatabase()
    booking = _booking()
    async with _factory(database).begin() as uow:
        await uow.bookings.save(booking)
        booking.confirm()
        await uow.bookings.save(booking)

    [insert] = database.connection.outbox_inserts()
    assert insert[3] == ["BOOKING_CREATION_REQUEST", "BOOKING_CONFIRMED"]


async def test_a_transaction_and_a_joined_one_stage_the_events_when_the_block_ends() -> None:
    database = RecordingDatabase()
    units = _factory(database)
    async with units.begin() as uow:
        await uow.bookings.save(_booking())
        assert database.connection.outbox_inserts() == []
    async with units.joining(database.connection) as uow:  # type: ignore[arg-type]
        await uow.bookings.save(_booking())

    assert len(database.connection.outbox_inserts()) == 2


async def test_the_audit_record_is_the_transactions_first_statement() -> None:
    database = RecordingDatabase()
    entry = AuditEntry("subject", "patient", "POST /patients/{patientId}/bookings", None, "r")
    async with _factory(database).begin(audit=entry) as uow:
        await uow.bookings.save(_booking())

    [first, *rest] = database.connection.statements
    assert "audit" in first[0]
    assert first[1] == ("subject", "patient", entry.action, None, "r")
    assert not any("audit" in sql for sql, _ in rest)


async def test_a_block_that_fails_stages_nothing() -> None:
    database = RecordingDatabase()
    units = _factory(database)

    async def failing_handler() -> None:
        async with units.begin() as uow:
            await uow.bookings.save(_booking())
            raise RuntimeError("the handler failed: the transaction rolls back")

    with pytest.raises(RuntimeError):
        await failing_handler()

    assert database.connection.outbox_inserts() == []
