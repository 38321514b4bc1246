"""Which notification a message asks for, and what the patient reads: pure, no AWS."""

from __future__ import annotations

import json

import pytest

from contract.events import BookingStatus
from patient_notifications.logic import (
    CANCELLED_STATUSES,
    CONFIRMED_STATUSES,
    Addressing,
    InvalidNotificationError,
    Kind,
    compose,
    decide,
)

ADDRESSING = Addressing(
    sender="bookings@careplan.example",
    recipient_template="patient-{patient_id}@patients.careplan.example",
)


def body(**data: str) -> str:
    """What the notification rules' input transformer delivers."""
    fields = {"patientId": "p-1", "bookingId": "b-1"} | data
    return json.dumps(
        {
            "source": "com.providerschedule",
            "event-type": "Notification",
            "id": "e-1",
            "data": fields,
        }
    )


def test_the_status_names_are_the_contracts() -> None:
    assert {*CONFIRMED_STATUSES, *CANCELLED_STATUSES} <= {s.value for s in BookingStatus}


def test_the_contracts_shape_without_status_is_a_confirmation() -> None:
    notification = decide(body()).notification
    assert notification is not None
    assert notification.kind is Kind.CONFIRMATION
    assert (notification.booking_id, notification.patient_id) == ("b-1", "p-1")


@pytest.mark.parametrize("status", ["CANCELLED_BY_PATIENT", "CANCELLED_BY_PROVIDER"])
def test_a_cancelled_status_is_a_cancellation(status: str) -> None:
    notification = decide(body(status=status)).notification
    assert notification is not None
    assert notification.kind is Kind.CANCELLATION


@pytest.mark.parametrize("status", ["REJECTED", "EXPIRED", "WAITING_FOR_CONFIRMATION"])
def test_other_statuses_notify_nobody(status: str) -> None:
    assert decide(body(status=status)).notification is None


@pytest.mark.parametrize(
    "text",
    ["not json", json.dumps({"data": "x"}), body(bookingId=""), body(patientId="<patientId>")],
)
def test_a_message_without_booking_or_patient_is_invalid(text: str) -> None:
    with pytest.raises(InvalidNotificationError):
        decide(text)


def test_a_confirmation_tells_the_kind_and_time_of_the_appointment() -> None:
    notification = decide(
        body(
            status="CONFIRMED",
            encounterType="ONSITE",
            slotFrom="2026-12-01T09:00:00Z",
            slotTo="2026-12-01T09:30:00+00:00",
        )
    ).notification
    assert notification is not None
    email = compose(notification, ADDRESSING)
    assert email.recipient == "patient-p-1@patients.careplan.example"
    assert email.sender == "bookings@careplan.example"
    assert email.subject == "Your appointment is confirmed"
    assert (
        "Your on-site appointment on Tuesday 01 December 2026, 09:00-09:30 (UTC) is confirmed."
        in (email.text)
    )
    assert "Booking reference: b-1" in email.text


def test_unresolved_slot_placeholders_leave_the_time_out() -> None:
    """moto leaves ``<slotFrom>`` as it is when the event has no slot (the Java producer)."""
    notification = decide(
        body(status="CANCELLED_BY_PROVIDER", slotFrom="<slotFrom>", slotTo="<slotTo>")
    ).notification
    assert notification is not None
    email = compose(notification, ADDRESSING)
    assert email.subject == "Your appointment was cancelled by your provider"
    assert "Your appointment was cancelled by your provider." in email.text
    assert "<" not in email.text


def test_a_patient_cancellation_is_acknowledged() -> None:
    notification = decide(body(status="CANCELLED_BY_PATIENT", encounterType="VIRTUAL")).notification
    assert notification is not None
    email = compose(notification, ADDRESSING)
    assert email.subject == "Your appointment is cancelled"
    assert "Your virtual appointment is cancelled, as you asked." in email.text
