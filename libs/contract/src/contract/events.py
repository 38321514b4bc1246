"""Payload models of the wire contract (CONTRACT.md section 3).

Each model reads what the Java implementation writes (unknown fields are ignored) and writes
camelCase JSON. The AsyncAPI document and the JSON Schemas are generated from these classes.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from contract.dates import FlexibleDateTime


class EventType(StrEnum):
    AVAILABILITY_CREATED = "AVAILABILITY_CREATED"
    AVAILABILITY_UPDATED = "AVAILABILITY_UPDATED"
    AVAILABILITY_DELETED = "AVAILABILITY_DELETED"
    BOOKING_CREATION_REQUEST = "BOOKING_CREATION_REQUEST"
    BOOKING_CANCELLATION_REQUEST = "BOOKING_CANCELLATION_REQUEST"
    BOOKING_REQUEST_CONFIRMED = "BOOKING_REQUEST_CONFIRMED"
    BOOKING_REQUEST_REJECTED = "BOOKING_REQUEST_REJECTED"
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    BOOKING_REJECTED = "BOOKING_REJECTED"
    BOOKING_EXPIRED = "BOOKING_EXPIRED"


class EncounterType(StrEnum):
    NOT_SELECTED = "NOT_SELECTED"
    ONSITE = "ONSITE"
    VIRTUAL = "VIRTUAL"


class BookingStatus(StrEnum):
    WAITING_FOR_CONFIRMATION = "WAITING_FOR_CONFIRMATION"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED_BY_PROVIDER = "CANCELLED_BY_PROVIDER"
    CANCELLED_BY_PATIENT = "CANCELLED_BY_PATIENT"
    EXPIRED = "EXPIRED"


class PaymentMode(StrEnum):
    SELF_PAY = "SELF_PAY"
    INSURANCE_PAY = "INSURANCE_PAY"


class ContractModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored (contract 1)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


# --- provider.availability -------------------------------------------------------------


class ProviderData(ContractModel):
    # Scalars only: the Java consumer reads this object as a map of strings (contract 3).
    id: UUID
    first_name: str
    last_name: str
    speciality: str
    gender: str


class AvailabilityData(ContractModel):
    id: UUID
    from_date: FlexibleDateTime
    to_date: FlexibleDateTime
    encounter_type: EncounterType = EncounterType.NOT_SELECTED
    # Ours (additive): which booking holds the slot, and a version that lets consumers
    # drop events older than the state they already have.
    booking_reference_id: UUID | None = None
    version: int | None = None


class AvailabilityEvent(ContractModel):
    id: UUID
    provider: ProviderData
    availability: AvailabilityData


# --- provider.availability.booking.requests / replies ----------------------------------


class BookingRequest(ContractModel):
    id: UUID
    provider_availability_id: UUID
    patient_id: UUID
    status: BookingStatus = BookingStatus.WAITING_FOR_CONFIRMATION
    payment_mode: PaymentMode = PaymentMode.SELF_PAY


class BookingReply(ContractModel):
    booking_id: UUID
    availability_id: UUID
    reason: str | None = None


# --- careplan.bookings / careplan.bookings.insured -------------------------------------


class Insurance(ContractModel):
    payer: str
    member_id: str
    plan: str
    valid_until: date


class PatientSnapshot(ContractModel):
    id: UUID
    first_name: str
    last_name: str
    gender: str
    date_of_birth: date
    insurance: Insurance | None = None


class BookingSnapshot(ContractModel):
    id: UUID
    provider_availability_id: UUID
    patient_id: UUID
    status: BookingStatus
    payment_mode: PaymentMode
    reason: str | None = None


class Slot(ContractModel):
    from_date: FlexibleDateTime
    to_date: FlexibleDateTime
    provider_id: UUID
    speciality: str


class BookingEvent(ContractModel):
    booking: BookingSnapshot
    patient: PatientSnapshot
    encounter_type: EncounterType
    # Ours (additive): the Java producer does not send it, so readers must do without it.
    slot: Slot | None = None


class CoverageDecision(ContractModel):
    covered: Literal[True] = True
    payer: str
    member_id: str
    reason: str


class InsuredBookingEvent(BookingEvent):
    coverage: CoverageDecision
