"""The booking state machine: which transitions apply, what each emits, what is ignored."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from care_plan.domain.errors import BookingNotCancellableError
from care_plan.domain.events import (
    BookingCancelled,
    BookingConfirmed,
    BookingExpired,
    BookingRejected,
    BookingRequested,
    CancellationRequested,
)
from care_plan.domain.model import Booking, Outcome, Patient, SlotSnapshot
from contract.events import BookingStatus, EncounterType, PaymentMode

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)


def waiting_booking() -> Booking:
    booking = Booking.request(
        id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        availability_id=uuid.uuid4(),
        payment_mode=PaymentMode.SELF_PAY,
        slot=SlotSnapshot(
            from_date=NOW + timedelta(days=3),
            to_date=NOW + timedelta(days=3, minutes=30),
            provider_id=uuid.uuid4(),
            speciality="Dentist",
            encounter_type=EncounterType.ONSITE,
        ),
        now=NOW,
        timeout=TIMEOUT,
    )
    booking.collect_events()
    return booking


def booking_in(status: BookingStatus) -> Booking:
    booking = waiting_booking()
    booking.status = status
    return booking


def test_a_requested_booking_waits_and_asks_the_provider_side() -> None:
    booking = Booking.request(
        id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        availability_id=uuid.uuid4(),
        payment_mode=PaymentMode.INSURANCE_PAY,
        slot=waiting_booking().slot,
        now=NOW,
        timeout=TIMEOUT,
    )
    assert booking.status is BookingStatus.WAITING_FOR_CONFIRMATION
    assert booking.expires_at == NOW + TIMEOUT
    assert booking.collect_events() == [BookingRequested(booking.id)]
    assert booking.collect_events() == [], "collecting drains the events"


def test_confirmation_of_a_waiting_booking_publishes_booking_confirmed() -> None:
    booking = waiting_booking()
    assert booking.confirm() is Outcome.APPLIED
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.collect_events() == [BookingConfirmed(booking.id)]


def test_confirmation_takes_the_slot_as_it_is_known_now() -> None:
    booking = waiting_booking()
    moved = SlotSnapshot(
        from_date=booking.slot.from_date + timedelta(hours=2),
        to_date=booking.slot.to_date + timedelta(hours=2),
        provider_id=booking.slot.provider_id,
        speciality=booking.slot.speciality,
        encounter_type=EncounterType.VIRTUAL,
    )
    assert booking.confirm(moved) is Outcome.APPLIED
    assert booking.slot == moved


def test_a_duplicate_confirmation_changes_nothing() -> None:
    booking = booking_in(BookingStatus.CONFIRMED)
    assert booking.confirm() is Outcome.ALREADY
    assert booking.collect_events() == []


def test_rejection_keeps_the_reason() -> None:
    booking = waiting_booking()
    assert booking.reject("slot deleted") is Outcome.APPLIED
    assert (booking.status, booking.reason) == (BookingStatus.REJECTED, "slot deleted")
    assert booking.collect_events() == [BookingRejected(booking.id, "slot deleted")]
    assert not booking.is_live


@pytest.mark.parametrize(
    "status",
    [
        BookingStatus.EXPIRED,
        BookingStatus.CANCELLED_BY_PATIENT,
        BookingStatus.CANCELLED_BY_PROVIDER,
        BookingStatus.REJECTED,
    ],
)
def test_a_late_confirmation_of_an_ended_booking_is_ignored(status: BookingStatus) -> None:
    booking = booking_in(status)
    assert booking.confirm() is Outcome.TOO_LATE
    assert booking.status is status
    assert booking.collect_events() == []


def test_a_rejection_after_confirmation_is_ignored() -> None:
    booking = booking_in(BookingStatus.CONFIRMED)
    assert booking.reject("late") is Outcome.TOO_LATE
    assert booking.status is BookingStatus.CONFIRMED


def test_expiry_before_the_deadline_does_nothing() -> None:
    booking = waiting_booking()
    assert booking.expire(NOW + TIMEOUT - timedelta(microseconds=1)) is Outcome.NOT_DUE
    assert booking.status is BookingStatus.WAITING_FOR_CONFIRMATION


def test_expiry_at_the_deadline_asks_the_provider_side_to_release_the_slot() -> None:
    booking = waiting_booking()
    assert booking.expire(NOW + TIMEOUT) is Outcome.APPLIED
    assert booking.status is BookingStatus.EXPIRED
    assert booking.reason
    assert booking.collect_events() == [
        BookingExpired(booking.id),
        CancellationRequested(booking.id),
    ]


def test_a_confirmed_booking_does_not_expire() -> None:
    booking = booking_in(BookingStatus.CONFIRMED)
    assert booking.expire(NOW + TIMEOUT * 10) is Outcome.TOO_LATE
    assert booking.status is BookingStatus.CONFIRMED


@pytest.mark.parametrize(
    "status", [BookingStatus.WAITING_FOR_CONFIRMATION, BookingStatus.CONFIRMED]
)
def test_patient_cancels_a_live_booking(status: BookingStatus) -> None:
    booking = booking_in(status)
    assert booking.cancel_by_patient() is Outcome.APPLIED
    assert booking.status is BookingStatus.CANCELLED_BY_PATIENT
    assert booking.collect_events() == [
        BookingCancelled(booking.id),
        CancellationRequested(booking.id),
    ]


def test_cancelling_twice_is_a_no_op() -> None:
    booking = booking_in(BookingStatus.CANCELLED_BY_PATIENT)
    assert booking.cancel_by_patient() is Outcome.ALREADY
    assert booking.collect_events() == []


@pytest.mark.parametrize(
    "status", [BookingStatus.REJECTED, BookingStatus.EXPIRED, BookingStatus.CANCELLED_BY_PROVIDER]
)
def test_an_ended_booking_cannot_be_cancelled_by_the_patient(status: BookingStatus) -> None:
    booking = booking_in(status)
    with pytest.raises(BookingNotCancellableError, match=status.value):
        booking.cancel_by_patient()
    assert booking.status is status


@pytest.mark.parametrize(
    "status", [BookingStatus.WAITING_FOR_CONFIRMATION, BookingStatus.CONFIRMED]
)
def test_provider_deleting_the_slot_cancels_a_live_booking_without_a_request_back(
    status: BookingStatus,
) -> None:
    booking = booking_in(status)
    assert booking.cancel_by_provider("slot deleted") is Outcome.APPLIED
    assert (booking.status, booking.reason) == (BookingStatus.CANCELLED_BY_PROVIDER, "slot deleted")
    assert booking.collect_events() == [BookingCancelled(booking.id)]


@pytest.mark.parametrize(
    "status", [BookingStatus.REJECTED, BookingStatus.EXPIRED, BookingStatus.CANCELLED_BY_PATIENT]
)
def test_provider_deletion_leaves_an_ended_booking_alone(status: BookingStatus) -> None:
    booking = booking_in(status)
    assert booking.cancel_by_provider("slot deleted") is Outcome.TOO_LATE
    assert booking.status is status
    assert booking.collect_events() == []


def test_expiry_and_patient_cancellation_add_to_uncollected_events() -> None:
    expiring, cancelling = waiting_booking(), waiting_booking()
    expiring.events.append(BookingRequested(expiring.id))
    cancelling.events.append(BookingRequested(cancelling.id))

    assert expiring.expire(NOW + TIMEOUT) is Outcome.APPLIED
    assert cancelling.cancel_by_patient() is Outcome.APPLIED

    assert expiring.reason == "no reply from the provider side in time"
    assert expiring.collect_events() == [
        BookingRequested(expiring.id),
        BookingExpired(expiring.id),
        CancellationRequested(expiring.id),
    ]
    assert cancelling.collect_events() == [
        BookingRequested(cancelling.id),
        BookingCancelled(cancelling.id),
        CancellationRequested(cancelling.id),
    ]


def test_request_keeps_the_patient_the_key_and_the_time() -> None:
    patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1990, 1, 1))
    booking = Booking.request(
        id=uuid.uuid4(),
        patient_id=patient.id,
        availability_id=uuid.uuid4(),
        payment_mode=PaymentMode.SELF_PAY,
        slot=waiting_booking().slot,
        now=NOW,
        timeout=TIMEOUT,
        idempotency_key="key-1",
        patient=patient,
    )
    assert (booking.patient, booking.idempotency_key) == (patient, "key-1")
    assert (booking.created_at, booking.expires_at) == (NOW, NOW + TIMEOUT)
