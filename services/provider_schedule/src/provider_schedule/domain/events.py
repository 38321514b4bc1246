"""What happened, as the domain sees it; ``messaging/events.py`` maps these to the contract."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from provider_schedule.domain.model import Availability, Provider


class Change(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    """The slot's state after the change, with its provider (event-carried state transfer)."""

    change: Change
    provider: Provider
    availability: Availability


@dataclass(frozen=True, slots=True)
class BookingAnswered:
    """The reply to a booking request: confirmed when ``reason`` is None."""

    booking_id: UUID
    availability_id: UUID
    reason: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.reason is None


DomainEvent = AvailabilityChanged | BookingAnswered
