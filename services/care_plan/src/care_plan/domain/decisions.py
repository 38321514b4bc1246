"""Whether and how a patient may book a slot: the booking rules, as pure functions.

The service layer reads the inputs under their locks (the slot row first, then the booking
row) and writes what these functions decide; nothing here touches a database or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from care_plan.domain.errors import IdempotencyKeyReusedError
from care_plan.domain.model import Booking, Patient, SlotSnapshot
from care_plan.domain.rules import SlotHold, default_payment_mode, refusal
from contract.events import PaymentMode


@dataclass(frozen=True, slots=True)
class KnownSlot:
    """A slot as the read model knows it: who holds it, and what a booking of it copies."""

    id: UUID
    hold: SlotHold
    snapshot: SlotSnapshot


@dataclass(frozen=True, slots=True)
class KeyedBooking:
    """A booking made with an Idempotency-Key, and the fingerprint of the request that made it."""

    booking: Booking
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """The slot cannot be booked now: deleted, or held by another booking."""

    reason: str


BookingDecision = Booking | Refused


def request_fingerprint(availability_id: UUID, payment_mode: PaymentMode | None) -> str:
    """What a retry with the same Idempotency-Key must repeat to be the same request."""
    return f"{availability_id}|{payment_mode.value if payment_mode else ''}"


def replayed_booking(existing: KeyedBooking | None, fingerprint: str) -> Booking | None:
    """The booking an earlier request with the same key made, or None when there was none.

    The key was used for another request (another slot or payment mode): refused, as the
    IETF Idempotency-Key draft says, rather than answering with a booking that was not asked for.
    """
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was used for a different booking request"
        )
    return existing.booking


def decide_booking(
    slot: KnownSlot,
    *,
    patient: Patient,
    booking_id: UUID,
    payment_mode: PaymentMode | None,
    idempotency_key: str | None,
    now: datetime,
    timeout: timedelta,
) -> BookingDecision:
    """The requested booking (``WAITING_FOR_CONFIRMATION``, a ``BookingRequested`` among its
    events), or why the slot cannot be booked. The provider side has the last word: it
    rejects what this read model could not see coming."""
    if why := refusal(slot.hold):
        return Refused(why)
    return Booking.request(
        id=booking_id,
        patient_id=patient.id,
        availability_id=slot.id,
        payment_mode=default_payment_mode(
            payment_mode, has_insurance=patient.insurance is not None
        ),
        slot=slot.snapshot,
        now=now,
        timeout=timeout,
        idempotency_key=idempotency_key,
        # Every event of the booking carries the patient as at the request.
        patient=patient,
    )


def slot_at_confirmation(slot: KnownSlot | None) -> SlotSnapshot | None:
    """The slot a confirmed booking carries: as the read model has it now (the provider may
    have moved it while the request was on its way; it refuses to move a booked slot after),
    or None to keep the booking's copy when the slot is gone."""
    if slot is None or slot.hold.deleted:
        return None
    return slot.snapshot
