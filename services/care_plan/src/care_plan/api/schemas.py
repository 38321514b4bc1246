"""Request and response bodies: camelCase JSON as CONTRACT.md section 4 shows them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from care_plan.domain.errors import InvalidPatientError
from care_plan.domain.model import Booking
from care_plan.domain.rules import check_date_of_birth
from contract.dates import FlexibleDateTime
from contract.events import BookingStatus, EncounterType, PaymentMode
from eventing.problems import Problem

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here as bad input rather than failing there.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_nul),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]


def _iso_date(value: Any) -> Any:
    """Only ``yyyy-MM-dd`` (the contract's format), not timestamps or datetimes."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be a date as yyyy-MM-dd")
    if not isinstance(value, str | date):
        raise ValueError("must be a date as yyyy-MM-dd")  # noqa: TRY004 - pydantic wants ValueError
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _birth_date(value: date) -> date:
    try:
        check_date_of_birth(value, today=datetime.now(UTC).date())
    except InvalidPatientError as error:
        raise ValueError(str(error)) from error
    return value


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Accepts ISO-8601 (an offset, or UTC when none) and the legacy dd.MM.yyyy (contract 3).
QueryDateTime = Annotated[FlexibleDateTime, AfterValidator(_in_utc)]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", from_attributes=True
    )


class InsuranceBody(ApiModel):
    payer: ShortText
    member_id: ShortText
    plan: ShortText
    valid_until: IsoDate


PATIENT_EXAMPLE: dict[str, JsonValue] = {
    "firstName": "Jane",
    "lastName": "Roe",
    "gender": "FEMALE",
    "dateOfBirth": "1991-08-06",
    "insurance": {
        "payer": "Acme Health",
        "memberId": "M-1234567",
        "plan": "GOLD",
        "validUntil": "2030-12-31",
    },
}


# ``Patient.of`` reads a body; ``PatientOut.model_validate`` reads a patient's attributes: the
# docstrings are the OpenAPI descriptions, so this is said here.
class PatientBody(ApiModel):
    """A patient as created or replaced (``PUT`` replaces every field, insurance included)."""

    model_config = ConfigDict(json_schema_extra={"examples": [PATIENT_EXAMPLE]})

    first_name: Name
    last_name: Name
    gender: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
        AfterValidator(_no_nul),
    ]
    date_of_birth: Annotated[IsoDate, AfterValidator(_birth_date)]
    insurance: InsuranceBody | None = None


class PatientOut(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "2f1c9a43-7f1e-4a8e-9c39-7c1d2b0e5a10", **PATIENT_EXAMPLE}]
        }
    )

    id: UUID
    first_name: str
    last_name: str
    gender: str
    date_of_birth: date
    insurance: InsuranceBody | None = None


class BookingBody(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"providerAvailabilityId": "5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f"},
                {
                    "providerAvailabilityId": "5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f",
                    "paymentMode": "SELF_PAY",
                },
            ]
        }
    )

    provider_availability_id: UUID
    payment_mode: PaymentMode | None = Field(
        default=None,
        description="Defaults to INSURANCE_PAY when the patient has insurance, else SELF_PAY",
    )


class BookedSlot(ApiModel):
    from_date: FlexibleDateTime
    to_date: FlexibleDateTime
    provider_id: UUID
    speciality: str
    encounter_type: EncounterType


class BookingOut(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9b0e3c1a-5d2f-4e6a-8b7c-1d2e3f4a5b6c",
                    "providerAvailabilityId": "5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f",
                    "patientId": "2f1c9a43-7f1e-4a8e-9c39-7c1d2b0e5a10",
                    "status": "WAITING_FOR_CONFIRMATION",
                    "paymentMode": "INSURANCE_PAY",
                    "reason": None,
                    "createdAt": "2026-11-25T10:15:30+00:00",
                    "expiresAt": "2026-11-25T10:16:00+00:00",
                    "slot": {
                        "fromDate": "2026-12-01T09:00:00+00:00",
                        "toDate": "2026-12-01T09:30:00+00:00",
                        "providerId": "7d1c8e7e-3a37-4b4e-8c65-0a3c2c7b8f01",
                        "speciality": "Dentist",
                        "encounterType": "ONSITE",
                    },
                }
            ]
        }
    )

    id: UUID
    provider_availability_id: UUID
    patient_id: UUID
    status: BookingStatus
    payment_mode: PaymentMode
    reason: str | None = Field(
        default=None, description="Why it was rejected, expired or cancelled"
    )
    created_at: FlexibleDateTime
    expires_at: FlexibleDateTime = Field(description="Without a reply by then, the booking expires")
    slot: BookedSlot

    @classmethod
    def of(cls, booking: Booking) -> BookingOut:
        return cls(
            id=booking.id,
            provider_availability_id=booking.availability_id,
            patient_id=booking.patient_id,
            status=booking.status,
            payment_mode=booking.payment_mode,
            reason=booking.reason,
            created_at=booking.created_at,
            expires_at=booking.expires_at,
            slot=BookedSlot(
                from_date=booking.slot.from_date,
                to_date=booking.slot.to_date,
                provider_id=booking.slot.provider_id,
                speciality=booking.slot.speciality,
                encounter_type=booking.slot.encounter_type,
            ),
        )


class AvailableSlot(ApiModel):
    """A bookable slot, as ``GET /availability`` lists it (built by the database)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f",
                    "providerId": "7d1c8e7e-3a37-4b4e-8c65-0a3c2c7b8f01",
                    "firstName": "John",
                    "lastName": "Doe",
                    "speciality": "Dentist",
                    "gender": "MALE",
                    "fromDate": "2026-12-01T09:00:00+00:00",
                    "toDate": "2026-12-01T09:30:00+00:00",
                    "encounterType": "ONSITE",
                }
            ]
        }
    )

    id: UUID
    provider_id: UUID
    first_name: str
    last_name: str
    speciality: str
    gender: str
    from_date: FlexibleDateTime
    to_date: FlexibleDateTime
    encounter_type: EncounterType


# The routes' error answers: the platform's one problem body (RFC 9457).
ErrorOut = Problem
