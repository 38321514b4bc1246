"""What callers ask Care Plan to do (from HTTP, from Kafka, from the expiry sweeper)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from care_plan.domain.model import Patient
from contract.events import PaymentMode

PROVIDER_DELETED_REASON = "the provider deleted the availability"


@dataclass(frozen=True, slots=True)
class RegisterPatient:
    patient: Patient


@dataclass(frozen=True, slots=True)
class ReplacePatient:
    """Every field, insurance included: a patient without insurance loses it."""

    patient: Patient


@dataclass(frozen=True, slots=True)
class RequestBooking:
    patient_id: UUID
    availability_id: UUID
    payment_mode: PaymentMode | None = None
    # Retries with the same key (per patient) return the booking the first request made.
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CancelBooking:
    """By the patient."""

    patient_id: UUID
    booking_id: UUID


@dataclass(frozen=True, slots=True)
class ConfirmBooking:
    """The provider side holds the slot (``BOOKING_REQUEST_CONFIRMED``)."""

    booking_id: UUID


@dataclass(frozen=True, slots=True)
class RejectBooking:
    """The provider side refused (``BOOKING_REQUEST_REJECTED``)."""

    booking_id: UUID
    reason: str


# What the provider side answered a booking request with.
ProviderAnswer = ConfirmBooking | RejectBooking


@dataclass(frozen=True, slots=True)
class ExpireBooking:
    """No reply in time (the sweeper asks)."""

    booking_id: UUID


@dataclass(frozen=True, slots=True)
class CancelBookingsOfSlot:
    """The provider deleted the slot: every live booking of it ends."""

    availability_id: UUID
    reason: str = PROVIDER_DELETED_REASON
