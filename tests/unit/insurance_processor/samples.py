"""Literal booking events shared by the processor's unit tests."""

from __future__ import annotations

from typing import Any

BOOKING_ID = "9b2f6c1e-8c1d-4b7e-9a51-3f1f3c2d4e5a"


def booking_event(
    *,
    payment_mode: str = "INSURANCE_PAY",
    status: str = "CONFIRMED",
    insurance: dict[str, str] | None = None,
    from_date: str = "2026-12-01T09:00:00+00:00",
) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "id": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
        "firstName": "Zoë",
        "lastName": "Doe",
        "gender": "FEMALE",
        "dateOfBirth": "1991-08-06",
    }
    if insurance is not None:
        patient["insurance"] = insurance
    return {
        "booking": {
            "id": BOOKING_ID,
            "providerAvailabilityId": "4a7d2c9e-1f3b-4c5d-8e6f-7a8b9c0d1e2f",
            "patientId": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
            "status": status,
            "paymentMode": payment_mode,
        },
        "patient": patient,
        "encounterType": "ONSITE",
        "slot": {
            "fromDate": from_date,
            "toDate": "2026-12-01T09:30:00+00:00",
            "providerId": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
            "speciality": "Dentist",
        },
    }


VALID_INSURANCE = {
    "payer": "Acme Health",
    "memberId": "M-123456",
    "plan": "Gold",
    "validUntil": "2030-12-31",
}
