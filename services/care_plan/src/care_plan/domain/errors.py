"""Refusals of the domain and the service layer; the API maps each to one HTTP status."""

from __future__ import annotations

from uuid import UUID


class DomainError(Exception):
    """Base class: the request is understood but cannot be carried out."""


class PatientNotFoundError(DomainError):
    def __init__(self, patient_id: UUID) -> None:
        super().__init__(f"patient {patient_id} does not exist")


class BookingNotFoundError(DomainError):
    def __init__(self, booking_id: UUID) -> None:
        super().__init__(f"booking {booking_id} does not exist for this patient")


class SlotNotFoundError(DomainError):
    def __init__(self, availability_id: UUID) -> None:
        super().__init__(f"availability {availability_id} is not known")


class SlotNotBookableError(DomainError):
    """Deleted by the provider, or held by a live booking."""


class BookingNotCancellableError(DomainError):
    """The booking already ended (rejected, expired, cancelled by the provider)."""


class IdempotencyKeyReusedError(DomainError):
    """The same Idempotency-Key came with a different request."""


class InvalidPatientError(DomainError):
    """Patient data that breaks a rule pydantic cannot express (a birth date in the future)."""
