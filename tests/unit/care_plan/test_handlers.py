"""The use cases on a fake unit of work: what each writes, and which events it stages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from care_plan.domain import commands
from care_plan.domain.decisions import KeyedBooking, KnownSlot, request_fingerprint
from care_plan.domain.errors import (
    BookingNotFoundError,
    IdempotencyKeyReusedError,
    PatientNotFoundError,
    SlotNotBookableError,
    SlotNotFoundError,
)
from care_plan.domain.model import Booking, Outcome, Patient, SlotSnapshot
from care_plan.domain.rules import SlotHold
from care_plan.persistence.repository import IdempotencyKeyTakenError
from care_plan.service_layer import handlers
from care_plan.service_layer.handlers import BookingClock
from contract import topics
from contract.events import BookingStatus, EncounterType, PaymentMode
from eventing.audit import AuditEntry
from tests.unit.care_plan.fakes import FakeUnitOfWork, FakeUnits

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _patient(uow: FakeUnitOfWork) -> Patient:
    patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1991, 8, 6))
    uow.patients.rows[patient.id] = patient
    return patient


def _slot(uow: FakeUnitOfWork, **hold: Any) -> KnownSlot:
    start = NOW + timedelta(days=1)
    slot = KnownSlot(
        uuid.uuid4(),
        SlotHold(**{"deleted": False, "held_by": None, **hold}),
        SlotSnapshot(
            start, start + timedelta(minutes=30), uuid.uuid4(), "GP", EncounterType.ONSITE
        ),
    )
    uow.slots.rows[slot.id] = slot
    return slot


async def _book(
    uow: FakeUnitOfWork, clock: Clock, *, key: str | None = None, **command: Any
) -> handlers.RequestedBooking:
    patient = command.pop("patient_id", None) or _patient(uow).id
    slot = command.pop("availability_id", None) or _slot(uow).id
    return await handlers.request_booking(
        commands.RequestBooking(patient, slot, idempotency_key=key, **command),
        FakeUnits(uow),  # type: ignore[arg-type]
        BookingClock(TIMEOUT, clock),
    )


async def test_a_booking_is_written_the_slot_held_and_the_request_staged_at_commit(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    result = await _book(uow, clock)

    booking = result.booking
    assert not result.replayed
    assert uow.bookings.rows[booking.id][0].status is BookingStatus.WAITING_FOR_CONFIRMATION
    assert booking.payment_mode is PaymentMode.SELF_PAY
    assert booking.expires_at == NOW + TIMEOUT
    assert uow.slots.rows[booking.availability_id].hold.held_by == booking.id
    assert uow.types() == ["BOOKING_CREATION_REQUEST"]
    assert uow.published[0][0] == topics.BOOKING_REQUESTS


@pytest.mark.parametrize(
    ("arrange", "error"),
    [
        (lambda uow: {"patient_id": uuid.uuid4()}, PatientNotFoundError),
        (lambda uow: {"availability_id": uuid.uuid4()}, SlotNotFoundError),
        (lambda uow: {"availability_id": _slot(uow, deleted=True).id}, SlotNotBookableError),
        (
            lambda uow: {"availability_id": _slot(uow, held_by=uuid.uuid4()).id},
            SlotNotBookableError,
        ),
    ],
)
async def test_a_refused_request_writes_and_stages_nothing(
    uow: FakeUnitOfWork,
    clock: Clock,
    arrange: Callable[[FakeUnitOfWork], dict[str, Any]],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await _book(uow, clock, **arrange(uow))
    assert uow.bookings.rows == {}
    assert uow.published == []


async def test_a_retry_with_the_same_key_replays_the_booking_without_a_second_request(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    first = await _book(uow, clock, key="k-1")
    again = await _book(
        uow,
        clock,
        key="k-1",
        patient_id=first.booking.patient_id,
        availability_id=first.booking.availability_id,
    )

    assert again.replayed
    assert again.booking.id == first.booking.id
    assert len(uow.bookings.rows) == 1
    assert uow.types() == ["BOOKING_CREATION_REQUEST"]


async def test_a_key_reused_for_another_slot_is_refused(uow: FakeUnitOfWork, clock: Clock) -> None:
    first = await _book(uow, clock, key="k-1")
    with pytest.raises(IdempotencyKeyReusedError):
        await _book(uow, clock, key="k-1", patient_id=first.booking.patient_id)


def _concurrent(uow: FakeUnitOfWork, patient: Patient, key: str) -> tuple[Booking, str]:
    """A booking of another slot with the same key (another slot lock: nothing serialises)."""
    other = _slot(uow)
    booking = Booking.request(
        id=uuid.uuid4(), patient_id=patient.id, availability_id=other.id,
        payment_mode=PaymentMode.SELF_PAY, slot=other.snapshot, now=NOW, timeout=TIMEOUT,
        idempotency_key=key,
    )  # fmt: skip
    return booking, request_fingerprint(other.id, None)


async def test_a_key_that_a_concurrent_request_took_is_read_on_a_second_attempt(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    patient, slot = _patient(uow), _slot(uow)
    uow.bookings.concurrent.append(_concurrent(uow, patient, "k-1"))
    units = FakeUnits(uow)
    entry = AuditEntry("subject", "patient", "POST /patients/{patientId}/bookings", patient.id, "r")

    # The second attempt reads what the other request committed: another slot, so the reuse
    # of its key is refused (422), not a unique violation (500).
    with pytest.raises(IdempotencyKeyReusedError):
        await handlers.request_booking(
            commands.RequestBooking(patient.id, slot.id, idempotency_key="k-1"),
            units,  # type: ignore[arg-type]
            BookingClock(TIMEOUT, clock),
            audit=entry,
        )
    assert units.begun == 2
    # The request's audit record goes into each attempt's transaction: the first rolled back.
    assert units.audits == [entry, entry]


async def test_a_key_taken_twice_is_not_retried_forever(uow: FakeUnitOfWork, clock: Clock) -> None:
    patient = _patient(uow)
    uow.bookings.concurrent += [_concurrent(uow, patient, "k-1"), _concurrent(uow, patient, "k-1")]

    async def unseen(patient_id: uuid.UUID, key: str) -> KeyedBooking | None:
        return None  # the winners stay out of sight: only the bounded retry ends this

    uow.bookings.by_idempotency_key = unseen  # type: ignore[method-assign]
    with pytest.raises(IdempotencyKeyTakenError):
        await _book(uow, clock, key="k-1", patient_id=patient.id)
    assert uow.bookings.concurrent == []  # two attempts, not more


async def test_a_confirmation_applies_once_and_carries_the_slot_as_known_now(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    booking = (await _book(uow, clock)).booking
    moved = SlotSnapshot(
        NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1), booking.slot.provider_id,
        "GP", EncounterType.VIRTUAL,
    )  # fmt: skip
    slot = uow.slots.rows[booking.availability_id]
    uow.slots.rows[slot.id] = KnownSlot(slot.id, slot.hold, moved)

    confirm = commands.ConfirmBooking(booking.id)
    assert await handlers.answer_bookings([confirm], uow) == [Outcome.APPLIED]  # type: ignore[arg-type]
    assert await handlers.answer_bookings([confirm], uow) == [Outcome.ALREADY]  # type: ignore[arg-type]
    await uow.commit()

    stored = uow.bookings.rows[booking.id][0]
    assert (stored.status, stored.slot) == (BookingStatus.CONFIRMED, moved)
    assert uow.types() == ["BOOKING_CREATION_REQUEST", "BOOKING_CONFIRMED"]


async def test_a_reply_for_an_unknown_booking_changes_nothing(uow: FakeUnitOfWork) -> None:
    unknown = uuid.uuid4()
    answers = [commands.ConfirmBooking(unknown), commands.RejectBooking(unknown, "no")]
    assert await handlers.answer_bookings(answers, uow) == [None, None]  # type: ignore[arg-type]
    await uow.commit()
    assert uow.published == []


async def test_expiry_waits_for_the_deadline_then_ends_the_booking_and_frees_the_slot(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    booking = (await _book(uow, clock)).booking
    expire = commands.ExpireBooking(booking.id)
    booking_clock = BookingClock(TIMEOUT, clock)

    assert await handlers.expire_booking(expire, uow, booking_clock) is Outcome.NOT_DUE  # type: ignore[arg-type]
    clock.at = NOW + TIMEOUT
    assert await handlers.expire_booking(expire, uow, booking_clock) is Outcome.APPLIED  # type: ignore[arg-type]
    await uow.commit()

    assert uow.bookings.rows[booking.id][0].status is BookingStatus.EXPIRED
    assert uow.slots.rows[booking.availability_id].hold.held_by is None
    assert uow.types()[1:] == ["BOOKING_EXPIRED", "BOOKING_CANCELLATION_REQUEST"]


async def test_a_late_reply_after_expiry_is_ignored(uow: FakeUnitOfWork, clock: Clock) -> None:
    booking = (await _book(uow, clock)).booking
    clock.at = NOW + TIMEOUT
    await handlers.expire_booking(
        commands.ExpireBooking(booking.id), uow, BookingClock(TIMEOUT, clock)
    )  # type: ignore[arg-type]
    await uow.commit()
    published = len(uow.published)

    [outcome] = await handlers.answer_bookings([commands.RejectBooking(booking.id, "late")], uow)  # type: ignore[arg-type]
    await uow.commit()

    assert outcome is Outcome.TOO_LATE
    assert uow.bookings.rows[booking.id][0].status is BookingStatus.EXPIRED
    assert len(uow.published) == published


async def test_a_patient_cancels_only_their_own_booking(uow: FakeUnitOfWork, clock: Clock) -> None:
    booking = (await _book(uow, clock)).booking
    with pytest.raises(BookingNotFoundError):
        await handlers.cancel_booking(commands.CancelBooking(uuid.uuid4(), booking.id), uow)  # type: ignore[arg-type]

    await handlers.cancel_booking(commands.CancelBooking(booking.patient_id, booking.id), uow)  # type: ignore[arg-type]
    await uow.commit()

    assert uow.bookings.rows[booking.id][0].status is BookingStatus.CANCELLED_BY_PATIENT
    assert uow.slots.rows[booking.availability_id].hold.held_by is None
    assert uow.types()[1:] == ["BOOKING_CANCELLED", "BOOKING_CANCELLATION_REQUEST"]


async def test_a_deleted_slot_ends_its_live_booking_without_a_cancellation_request(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    booking = (await _book(uow, clock)).booking
    cancelled = await handlers.cancel_bookings_of_slot(
        commands.CancelBookingsOfSlot(booking.availability_id),
        uow,  # type: ignore[arg-type]
    )
    await uow.commit()

    assert [b.id for b in cancelled] == [booking.id]
    stored: Booking = uow.bookings.rows[booking.id][0]
    assert (stored.status, stored.reason) == (
        BookingStatus.CANCELLED_BY_PROVIDER,
        commands.PROVIDER_DELETED_REASON,
    )
    assert uow.types()[1:] == ["BOOKING_CANCELLED"]  # the provider side has no slot to free


async def test_the_request_opens_its_unit_of_work_with_the_callers_traceparent(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    units = FakeUnits(uow)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    await handlers.request_booking(
        commands.RequestBooking(_patient(uow).id, _slot(uow).id),
        units,  # type: ignore[arg-type]
        BookingClock(TIMEOUT, clock),
        traceparent=traceparent,
    )

    assert units.traceparents == [traceparent]
