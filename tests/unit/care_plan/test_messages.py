"""Domain events become the contract's records: topic, key, type and payload."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from care_plan.domain.model import Booking, Insurance, Patient, SlotSnapshot
from care_plan.messaging.outgoing import to_messages
from contract import topics
from contract.events import BookingEvent, BookingRequest, EncounterType, PaymentMode

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT = Patient(
    id=uuid.uuid4(),
    first_name="Jane",
    last_name="Roe",
    gender="FEMALE",
    date_of_birth=date(1991, 8, 6),
    insurance=Insurance("Acme Health", "M-1", "GOLD", date(2030, 12, 31)),
)


def _booking() -> Booking:
    return Booking.request(
        id=uuid.uuid4(),
        patient_id=PATIENT.id,
        availability_id=uuid.uuid4(),
        payment_mode=PaymentMode.INSURANCE_PAY,
        slot=SlotSnapshot(
            NOW + timedelta(days=1),
            NOW + timedelta(days=1, minutes=30),
            uuid.uuid4(),
            "Dentist",
            EncounterType.ONSITE,
        ),
        now=NOW,
        timeout=timedelta(seconds=30),
    )


def test_creation_request_is_keyed_by_availability_and_carries_the_booking() -> None:
    booking = _booking()
    [(topic, event)] = to_messages(booking, PATIENT, booking.collect_events())
    assert topic == topics.BOOKING_REQUESTS
    assert event.type == "BOOKING_CREATION_REQUEST"
    assert event.key == str(booking.availability_id)
    assert event.source == "/care-plan"
    assert event.data == {
        "id": str(booking.id),
        "providerAvailabilityId": str(booking.availability_id),
        "patientId": str(PATIENT.id),
        "status": "WAITING_FOR_CONFIRMATION",
        "paymentMode": "INSURANCE_PAY",
    }
    assert BookingRequest.model_validate(event.data).id == booking.id


def test_confirmation_carries_patient_with_insurance_encounter_type_and_slot() -> None:
    booking = _booking()
    booking.collect_events()
    booking.confirm()
    [(topic, event)] = to_messages(booking, PATIENT, booking.collect_events())
    assert topic == topics.CAREPLAN_BOOKINGS
    assert event.type == "BOOKING_CONFIRMED"
    assert event.key == str(booking.id)
    data = event.data
    assert data["booking"]["status"] == "CONFIRMED"
    assert data["encounterType"] == "ONSITE"
    assert data["patient"]["insurance"] == {
        "payer": "Acme Health",
        "memberId": "M-1",
        "plan": "GOLD",
        "validUntil": "2030-12-31",
    }
    assert data["patient"]["dateOfBirth"] == "1991-08-06"
    assert data["slot"] == {
        "fromDate": "2026-11-26T10:00:00+00:00",
        "toDate": "2026-11-26T10:30:00+00:00",
        "providerId": str(booking.slot.provider_id),
        "speciality": "Dentist",
    }
    assert BookingEvent.model_validate(data).booking.id == booking.id


def test_expiry_publishes_booking_expired_then_a_cancellation_request_with_the_status() -> None:
    booking = _booking()
    booking.collect_events()
    booking.expire(NOW + timedelta(minutes=1))
    (expired_topic, expired), (cancellation_topic, cancellation) = to_messages(
        booking, PATIENT, booking.collect_events()
    )
    assert (expired_topic, expired.type) == (topics.CAREPLAN_BOOKINGS, "BOOKING_EXPIRED")
    assert (cancellation_topic, cancellation.type) == (
        topics.BOOKING_REQUESTS,
        "BOOKING_CANCELLATION_REQUEST",
    )
    assert cancellation.key == str(booking.availability_id)
    assert cancellation.data["status"] == "EXPIRED"
    assert expired.data["booking"]["reason"]


def test_every_record_has_its_own_event_id() -> None:
    booking = _booking()
    booking.collect_events()
    booking.cancel_by_patient()
    messages = to_messages(booking, PATIENT, booking.collect_events())
    assert [e.type for _, e in messages] == ["BOOKING_CANCELLED", "BOOKING_CANCELLATION_REQUEST"]
    assert len({e.id for _, e in messages}) == 2
