"""Who may hold a slot: the booking responder's decisions, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from provider_schedule.domain.model import Availability


class RejectionReason:
    """The ``reason`` of a ``BOOKING_REQUEST_REJECTED`` reply: stable prefixes, then the id."""

    UNKNOWN_SLOT = "unknown slot"
    SLOT_DELETED = "slot deleted"
    ALREADY_BOOKED = "already booked by another booking"
    BOOKING_CANCELLED = "booking was cancelled"

    @staticmethod
    def unknown_slot(availability_id: UUID) -> str:
        return f"{RejectionReason.UNKNOWN_SLOT}: availability {availability_id} does not exist"

    @staticmethod
    def slot_deleted(availability_id: UUID) -> str:
        return f"{RejectionReason.SLOT_DELETED}: availability {availability_id} was deleted"

    @staticmethod
    def already_booked(availability_id: UUID) -> str:
        # The other booking's id is not named: it belongs to another patient.
        return f"{RejectionReason.ALREADY_BOOKED}: availability {availability_id} is taken"

    @staticmethod
    def booking_cancelled(booking_id: UUID) -> str:
        return f"{RejectionReason.BOOKING_CANCELLED}: booking {booking_id} cannot be confirmed"


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The booking holds the slot. ``changed`` is False when it already held it (a duplicate)."""

    slot: Availability
    changed: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


BookingDecision = Confirmed | Rejected


def decide_booking(
    slot: Availability | None,
    *,
    availability_id: UUID,
    booking_id: UUID,
    booking_cancelled: bool,
) -> BookingDecision:
    """May ``booking_id`` take the slot? A booking that already holds it is confirmed again:
    a redelivered or retried request must never turn a confirmation into a rejection.

    ``booking_cancelled``: a cancellation of this booking was handled before. Requests are not
    ordered per booking (the Java Care Plan keys them by event type), so a cancellation may
    overtake its creation; the late creation must not take a slot for a dead booking.
    """
    if slot is None:
        return Rejected(RejectionReason.unknown_slot(availability_id))
    if slot.is_deleted:
        return Rejected(RejectionReason.slot_deleted(availability_id))
    if slot.booking_reference_id == booking_id:
        # Even if cancelled: a cancelled booking holds a slot only when its cancellation
        # named another one. The reply then agrees with the slot, which stays cancellable.
        return Confirmed(slot, changed=False)
    if booking_cancelled:
        return Rejected(RejectionReason.booking_cancelled(booking_id))
    if slot.is_booked:
        return Rejected(RejectionReason.already_booked(availability_id))
    return Confirmed(slot.booked_by(booking_id), changed=True)


def decide_cancellation(slot: Availability | None, *, booking_id: UUID) -> Availability | None:
    """The freed slot if ``booking_id`` holds it; None when there is nothing to free. The
    cancellation is remembered either way (see ``decide_booking``).

    A deleted slot stays as it is: it cannot be booked again, and its deletion was published
    with the booking reference that the cancellation concerns.
    """
    if slot is None or slot.is_deleted or slot.booking_reference_id != booking_id:
        return None
    return slot.released()
