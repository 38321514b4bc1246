"""What happened to a booking. ``messaging.outgoing`` turns each into a contract event."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class BookingRequested:
    """Ask the provider side to hold the slot (``BOOKING_CREATION_REQUEST``)."""

    booking_id: UUID


@dataclass(frozen=True, slots=True)
class CancellationRequested:
    """Ask the provider side to release the slot (``BOOKING_CANCELLATION_REQUEST``)."""

    booking_id: UUID


@dataclass(frozen=True, slots=True)
class BookingConfirmed:
    booking_id: UUID


@dataclass(frozen=True, slots=True)
class BookingRejected:
    booking_id: UUID
    reason: str


@dataclass(frozen=True, slots=True)
class BookingExpired:
    booking_id: UUID


@dataclass(frozen=True, slots=True)
class BookingCancelled:
    """By the patient or by the provider; the booking's status says which."""

    booking_id: UUID


DomainEvent = (
    BookingRequested
    | CancellationRequested
    | BookingConfirmed
    | BookingRejected
    | BookingExpired
    | BookingCancelled
)
