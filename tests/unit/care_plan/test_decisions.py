"""The booking rules without I/O: who may book a slot, what a retry with a key gets back, which
slot a confirmed booking carries."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from care_plan.domain.decisions import (
    KeyedBooking,
    KnownSlot,
    Refused,
    decide_booking,
    replayed_booking,
    request_fingerprint,
    slot_at_confirmation,
)
from care_plan.domain.errors import IdempotencyKeyReusedError
from care_plan.domain.events import BookingRequested
from care_plan.domain.model import Booking, Insurance, Patient, SlotSnapshot
from care_plan.domain.rules import SlotHold
from contract.events import BookingStatus, EncounterType, PaymentMode

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)
INSURED = Patient(
    uuid.uuid4(),
    "Jane",
    "Roe",
    "FEMALE",
    date(1991, 8, 6),
    Insurance("A", "M", "G", date(2030, 1, 1)),
)
SELF_PAYING = Patient(uuid.uuid4(), "John", "Doe", "MALE", date(1980, 1, 1))


def slot(hold: SlotHold | None = None) -> KnownSlot:
    start = NOW + timedelta(days=1)
    return KnownSlot(
        id=uuid.uuid4(),
        hold=hold or SlotHold(deleted=False, held_by=None),
        snapshot=SlotSnapshot(
            start, start + timedelta(minutes=30), uuid.uuid4(), "Dentist", EncounterType.ONSITE
        ),
    )


def decide(known: KnownSlot, patient: Patient = INSURED, **changes: object) -> object:
    arguments: dict[str, object] = {
        "patient": patient,
        "booking_id": uuid.uuid4(),
        "payment_mode": None,
        "idempotency_key": None,
        "now": NOW,
        "timeout": TIMEOUT,
    }
    return decide_booking(known, **{**arguments, **changes})  # type: ignore[arg-type]


def test_a_free_slot_is_requested_for_the_patient_with_a_deadline() -> None:
    known, booking_id = slot(), uuid.uuid4()
    booking = decide(known, booking_id=booking_id, idempotency_key="k-1")

    assert isinstance(booking, Booking)
    assert (booking.id, booking.patient_id, booking.availability_id) == (
        booking_id,
        INSURED.id,
        known.id,
    )
    assert booking.status is BookingStatus.WAITING_FOR_CONFIRMATION
    assert (booking.created_at, booking.expires_at) == (NOW, NOW + TIMEOUT)
    assert booking.slot == known.snapshot
    assert booking.patient == INSURED  # the snapshot every event of the booking carries
    assert booking.idempotency_key == "k-1"
    assert booking.events == [BookingRequested(booking_id)]


@pytest.mark.parametrize(
    ("patient", "requested", "expected"),
    [
        (INSURED, None, PaymentMode.INSURANCE_PAY),
        (SELF_PAYING, None, PaymentMode.SELF_PAY),
        (INSURED, PaymentMode.SELF_PAY, PaymentMode.SELF_PAY),
    ],
)
def test_the_payment_mode_defaults_to_insurance_when_the_patient_has_one(
    patient: Patient, requested: PaymentMode | None, expected: PaymentMode
) -> None:
    booking = decide(slot(), patient, payment_mode=requested)
    assert isinstance(booking, Booking)
    assert booking.payment_mode is expected


@pytest.mark.parametrize(
    ("hold", "reason"),
    [
        (SlotHold(deleted=True, held_by=None), "the provider deleted this availability"),
        (SlotHold(deleted=False, held_by=uuid.uuid4()), "held by another booking"),
        (
            SlotHold(deleted=False, held_by=None, held_elsewhere=uuid.uuid4()),
            "booked by another booking",
        ),
    ],
)
def test_a_deleted_or_held_slot_is_refused(hold: SlotHold, reason: str) -> None:
    decision = decide(slot(hold))
    assert isinstance(decision, Refused)
    assert reason in decision.reason


def test_a_retry_with_the_same_key_and_request_gets_the_first_booking_back() -> None:
    first = decide(slot())
    assert isinstance(first, Booking)
    fingerprint = request_fingerprint(first.availability_id, None)

    assert replayed_booking(None, fingerprint) is None
    assert replayed_booking(KeyedBooking(first, fingerprint), fingerprint) is first


def test_a_key_reused_for_another_request_is_refused() -> None:
    first = decide(slot())
    assert isinstance(first, Booking)
    used = request_fingerprint(first.availability_id, None)
    other_mode = request_fingerprint(first.availability_id, PaymentMode.SELF_PAY)
    other_slot = request_fingerprint(uuid.uuid4(), None)

    for fingerprint in (other_mode, other_slot):
        with pytest.raises(IdempotencyKeyReusedError):
            replayed_booking(KeyedBooking(first, used), fingerprint)


def test_a_confirmed_booking_carries_the_slot_as_known_now_unless_it_is_gone() -> None:
    known = slot()
    assert slot_at_confirmation(known) == known.snapshot
    assert slot_at_confirmation(None) is None
    assert slot_at_confirmation(slot(SlotHold(deleted=True, held_by=None))) is None


def test_the_refusal_of_a_reused_key_says_why_in_the_words_the_client_reads() -> None:
    # The API answers with this text as the problem's detail.
    first = decide(slot())
    assert isinstance(first, Booking)
    used = request_fingerprint(first.availability_id, None)
    with pytest.raises(IdempotencyKeyReusedError) as refused:
        replayed_booking(KeyedBooking(first, used), request_fingerprint(uuid.uuid4(), None))
    assert str(refused.value) == "this Idempotency-Key was used for a different booking request"


def test_the_fingerprint_keeps_the_format_stored_with_earlier_bookings() -> None:
    # Fingerprints are stored with the bookings: a new format would refuse every retry of a
    # request made before the deployment that changed it.
    slot_id = uuid.UUID("3f1c2a9e-0000-4000-8000-000000000001")
    assert request_fingerprint(slot_id, None) == f"{slot_id}|"
    assert request_fingerprint(slot_id, PaymentMode.SELF_PAY) == f"{slot_id}|SELF_PAY"
