"""Coverage decisions on literal booking events, and the insured events they produce."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contract.events import BookingEvent, EventType
from insurance_processor.transforms import (
    decide_coverage,
    dedup_key,
    insure,
    insured_event_id,
)
from tests.unit.insurance_processor.samples import BOOKING_ID, VALID_INSURANCE, booking_event


def parsed(data: dict[str, Any]) -> BookingEvent:
    return BookingEvent.model_validate(data)


def test_insured_confirmation_is_forwarded_with_the_coverage_decision() -> None:
    insured = insure(EventType.BOOKING_CONFIRMED, parsed(booking_event(insurance=VALID_INSURANCE)))

    assert insured is not None
    assert insured.to_json_dict() == {
        "booking": {
            "id": BOOKING_ID,
            "providerAvailabilityId": "4a7d2c9e-1f3b-4c5d-8e6f-7a8b9c0d1e2f",
            "patientId": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
            "status": "CONFIRMED",
            "paymentMode": "INSURANCE_PAY",
            "reason": None,
        },
        "patient": {
            "id": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
            "firstName": "Zoë",
            "lastName": "Doe",
            "gender": "FEMALE",
            "dateOfBirth": "1991-08-06",
            "insurance": {
                "payer": "Acme Health",
                "memberId": "M-123456",
                "plan": "Gold",
                "validUntil": "2030-12-31",
            },
        },
        "encounterType": "ONSITE",
        "slot": {
            "fromDate": "2026-12-01T09:00:00+00:00",
            "toDate": "2026-12-01T09:30:00+00:00",
            "providerId": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
            "speciality": "Dentist",
        },
        "coverage": {
            "covered": True,
            "payer": "Acme Health",
            "memberId": "M-123456",
            "reason": "INSURANCE_PAY; plan Gold valid until 2030-12-31, slot on 2026-12-01",
        },
    }


def test_self_pay_booking_of_an_insured_patient_is_not_forwarded() -> None:
    event = parsed(booking_event(payment_mode="SELF_PAY", insurance=VALID_INSURANCE))

    assert decide_coverage(event) is None
    assert insure(EventType.BOOKING_CONFIRMED, event) is None


def test_insurance_expired_before_the_slot_is_not_coverage() -> None:
    expired = {**VALID_INSURANCE, "validUntil": "2026-11-30"}

    assert decide_coverage(parsed(booking_event(insurance=expired))) is None


def test_insurance_valid_until_the_slot_day_covers_it() -> None:
    last_day = {**VALID_INSURANCE, "validUntil": "2026-12-01"}

    decision = decide_coverage(parsed(booking_event(insurance=last_day)))

    assert decision is not None
    assert decision.reason == (
        "INSURANCE_PAY; plan Gold valid until 2026-12-01, slot on 2026-12-01"
    )


def test_slot_date_is_read_in_the_offset_the_slot_was_written_with() -> None:
    # 00:30 on 2 December in Berlin is still 1 December in UTC: the slot is on the 2nd.
    last_day = {**VALID_INSURANCE, "validUntil": "2026-12-01"}
    event = parsed(booking_event(insurance=last_day, from_date="2026-12-02T00:30:00+01:00"))

    assert decide_coverage(event) is None


def test_legacy_date_only_slot_is_read_as_that_day() -> None:
    last_day = {**VALID_INSURANCE, "validUntil": "2026-12-01"}

    assert decide_coverage(parsed(booking_event(insurance=last_day, from_date="01.12.2026")))


def test_insurance_pay_without_insurance_is_not_forwarded() -> None:
    event = parsed(booking_event(insurance=None))

    assert decide_coverage(event) is None
    assert insure(EventType.BOOKING_CONFIRMED, event) is None


def test_cancellation_of_a_covered_booking_follows_it() -> None:
    cancelled = parsed(booking_event(status="CANCELLED_BY_PATIENT", insurance=VALID_INSURANCE))

    insured = insure(EventType.BOOKING_CANCELLED, cancelled)

    assert insured is not None
    assert insured.to_json_dict()["booking"]["status"] == "CANCELLED_BY_PATIENT"
    assert insured.to_json_dict()["coverage"] == {
        "covered": True,
        "payer": "Acme Health",
        "memberId": "M-123456",
        "reason": "INSURANCE_PAY; plan Gold valid until 2030-12-31, slot on 2026-12-01",
    }


def test_cancellation_of_an_uncovered_booking_is_not_forwarded() -> None:
    cancelled = parsed(
        booking_event(
            payment_mode="SELF_PAY", status="CANCELLED_BY_PROVIDER", insurance=VALID_INSURANCE
        )
    )

    assert insure(EventType.BOOKING_CANCELLED, cancelled) is None


@pytest.mark.parametrize(
    "event_type", [EventType.BOOKING_REJECTED, EventType.BOOKING_EXPIRED, "BOOKING_RESCHEDULED"]
)
def test_types_the_insured_topic_does_not_carry_are_not_forwarded(event_type: str) -> None:
    covered = parsed(booking_event(status="REJECTED", insurance=VALID_INSURANCE))

    assert decide_coverage(covered) is not None
    assert insure(event_type, covered) is None


def test_insured_event_id_is_the_uuid5_of_the_input_id_in_the_processor_namespace() -> None:
    input_id = "5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:careplan:insurance-processor")

    assert insured_event_id(input_id) == str(uuid.uuid5(namespace, input_id))
    assert insured_event_id(input_id) == "57db7ae9-f04d-57a9-bca1-e3645b690c44"
    assert insured_event_id("another-id") != insured_event_id(input_id)


def test_dedup_key_names_the_booking_and_the_transition() -> None:
    event = parsed(booking_event(insurance=VALID_INSURANCE))

    assert dedup_key(EventType.BOOKING_CONFIRMED, event) == f"BOOKING_CONFIRMED:{BOOKING_ID}"
    assert dedup_key(EventType.BOOKING_CANCELLED, event) == f"BOOKING_CANCELLED:{BOOKING_ID}"


def test_a_booking_event_without_slot_as_the_java_producer_writes_it_is_read_and_not_covered() -> (
    None
):
    event = BookingEvent.model_validate(
        {
            "booking": {
                "id": "0f5e6b7c-1d2e-4f3a-8b9c-0d1e2f3a4b5c",
                "providerAvailabilityId": "1f5e6b7c-1d2e-4f3a-8b9c-0d1e2f3a4b5c",
                "patientId": "2f5e6b7c-1d2e-4f3a-8b9c-0d1e2f3a4b5c",
                "status": "CONFIRMED",
                "paymentMode": "INSURANCE_PAY",
            },
            "patient": {
                "id": "2f5e6b7c-1d2e-4f3a-8b9c-0d1e2f3a4b5c",
                "firstName": "Ada",
                "lastName": "Lovelace",
                "gender": "FEMALE",
                "dateOfBirth": "1990-12-10",
                "insurance": {
                    "payer": "Acme",
                    "memberId": "M",
                    "plan": "G",
                    "validUntil": "2030-12-31",
                },
            },
            "encounterType": "ONSITE",
        }
    )

    assert event.slot is None
    assert decide_coverage(event) is None
