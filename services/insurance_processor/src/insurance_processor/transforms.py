"""Coverage decisions: which booking events go on ``careplan.bookings.insured`` (pure, no I/O).

A booking is covered when it is paid by insurance (``paymentMode`` ``INSURANCE_PAY``) and the
insurance in the event's patient snapshot is valid on the slot's date (``validUntil`` on or
after the date of ``slot.fromDate``, read in the offset the producer wrote it with).

Cancellations follow their confirmation by re-evaluating the same rule on the cancellation
event, not by remembering which bookings were covered. The event carries the full snapshot of
the booking, the patient and the slot (event-carried state transfer), and none of what the
rule reads can change between the two events: the contract has no endpoint that updates a
patient or moves a booked slot (CONTRACT.md section 4). So the decision is the one made for
the confirmation, and it holds however the input is keyed and partitioned, which a state
lookup would not (the contract forbids depending on the key; the Java producer keys by event
type, which would put a confirmation and its cancellation in different state partitions).
One consequence: a covered booking cancelled while it still waited for the provider's reply
has its cancellation forwarded without a confirmation before it; consumers treat it as the
cancellation of a booking they do not know, as they must for any at-least-once stream.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from typing import Final

from contract.events import (
    BookingEvent,
    CoverageDecision,
    EventType,
    InsuredBookingEvent,
    PaymentMode,
)

# The only types the insured topic carries (CONTRACT.md section 2); rejected and expired
# bookings, and any type added later, are not forwarded.
INSURED_EVENT_TYPES: Final = frozenset({EventType.BOOKING_CONFIRMED, EventType.BOOKING_CANCELLED})

# The ids of the events this processor writes derive from the ids of the events it read, so
# that reprocessing an input event yields the same output event id (contract section 1: the
# id is stable across re-publication and is the consumers' deduplication key).
_OUTPUT_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:careplan:insurance-processor")
_NAMESPACE_BYTES: Final = _OUTPUT_ID_NAMESPACE.bytes


def slot_date(event: BookingEvent) -> date | None:
    return event.slot.from_date.date() if event.slot is not None else None


def decide_coverage(event: BookingEvent) -> CoverageDecision | None:
    """The decision when the booking is covered by the patient's insurance, else None."""
    if event.booking.payment_mode is not PaymentMode.INSURANCE_PAY:
        return None
    insurance = event.patient.insurance
    if insurance is None:
        return None
    day = slot_date(event)
    # Without the slot (the Java producer does not send it) validity cannot be checked on the
    # slot's date: such a booking is not routed as covered.
    if day is None or insurance.valid_until < day:
        return None
    return CoverageDecision(
        payer=insurance.payer,
        member_id=insurance.member_id,
        reason=(
            f"INSURANCE_PAY; plan {insurance.plan} valid until "
            f"{insurance.valid_until.isoformat()}, slot on {day.isoformat()}"
        ),
    )


def insure(event_type: str, event: BookingEvent) -> InsuredBookingEvent | None:
    """The event for ``careplan.bookings.insured``, or None when it does not go there."""
    if event_type not in INSURED_EVENT_TYPES:
        return None
    decision = decide_coverage(event)
    if decision is None:
        return None
    return InsuredBookingEvent(
        booking=event.booking,
        patient=event.patient,
        encounter_type=event.encounter_type,
        slot=event.slot,
        coverage=decision,
    )


def insured_event_id(input_event_id: str) -> str:
    """``str(uuid.uuid5(namespace, input_event_id))``, spelled out: a third of the cost."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + input_event_id.encode(), usedforsecurity=False)
    octets = bytearray(digest.digest()[:16])
    octets[6] = (octets[6] & 0x0F) | 0x50  # version 5
    octets[8] = (octets[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_ = octets.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def dedup_key(event_type: str, event: BookingEvent) -> str:
    """What makes two input events the same booking event.

    A booking is confirmed at most once and cancelled at most once, so booking id and type
    name one transition. This covers a re-published event (same ``ce_id``) and also a
    transition published twice under two ids.
    """
    return f"{event_type}:{event.booking.id}"
