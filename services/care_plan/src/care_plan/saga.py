"""The booking saga's steps, each inside the caller's transaction.

Every step locks the slot row, then the booking row, changes state, and stages the resulting
events in the outbox; the relay publishes them once the transaction commits. The same steps
serve the HTTP API, the reply and availability consumers, and the expiry sweeper.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prometheus_client import Counter

from care_plan.domain.errors import (
    BookingNotFoundError,
    IdempotencyKeyReusedError,
    PatientNotFoundError,
    SlotNotBookableError,
    SlotNotFoundError,
)
from care_plan.domain.model import Booking, Outcome
from care_plan.domain.rules import default_payment_mode, refusal
from care_plan.messaging.outgoing import to_messages
from care_plan.persistence.repository import (
    BookingRepository,
    LockedSlot,
    PatientRepository,
    SlotRepository,
)
from contract.events import PaymentMode
from eventing.database import Connection
from eventing.outbox import Outbox

logger = logging.getLogger(__name__)

TRANSITIONS = Counter(
    "care_plan_booking_transitions_total",
    "Booking state changes and ignored (duplicate or late) inputs",
    ["step", "outcome"],
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RequestedBooking:
    booking: Booking
    replayed: bool  # an earlier request with the same Idempotency-Key created it


@dataclass(frozen=True, slots=True)
class BookingSaga:
    outbox: Outbox
    timeout: timedelta
    clock: Callable[[], datetime] = field(default=_utcnow)

    async def request_booking(
        self,
        connection: Connection,
        *,
        patient_id: UUID,
        availability_id: UUID,
        payment_mode: PaymentMode | None,
        idempotency_key: str | None = None,
        traceparent: str | None = None,
    ) -> RequestedBooking:
        """Book a slot: the booking and its ``BOOKING_CREATION_REQUEST``, in one transaction."""
        patient = await PatientRepository(connection).get(patient_id)
        if patient is None:
            raise PatientNotFoundError(patient_id)
        bookings, slots = BookingRepository(connection), SlotRepository(connection)
        fingerprint = f"{availability_id}|{payment_mode.value if payment_mode else ''}"
        if idempotency_key is not None and (
            replay := await self._replay(bookings, patient_id, idempotency_key, fingerprint)
        ):
            return replay
        slot = await slots.lock(availability_id)
        if slot is None:
            raise SlotNotFoundError(availability_id)
        # A request with the same key may have committed while this one waited for the lock.
        if idempotency_key is not None and (
            replay := await self._replay(bookings, patient_id, idempotency_key, fingerprint)
        ):
            return replay
        if why := refusal(slot.hold):
            TRANSITIONS.labels("request", "refused").inc()
            raise SlotNotBookableError(why)
        booking = Booking.request(
            id=uuid.uuid4(),
            patient_id=patient_id,
            availability_id=availability_id,
            payment_mode=default_payment_mode(
                payment_mode, has_insurance=patient.insurance is not None
            ),
            slot=slot.snapshot,
            now=self.clock(),
            timeout=self.timeout,
            idempotency_key=idempotency_key,
            patient=patient,
        )
        await bookings.add(booking, fingerprint=fingerprint if idempotency_key else None)
        await slots.hold(availability_id, booking.id)
        await self._publish(connection, booking, traceparent=traceparent)
        TRANSITIONS.labels("request", Outcome.APPLIED.value).inc()
        return RequestedBooking(booking, replayed=False)

    async def _replay(
        self, bookings: BookingRepository, patient_id: UUID, key: str, fingerprint: str
    ) -> RequestedBooking | None:
        existing = await bookings.by_idempotency_key(patient_id, key)
        if existing is None:
            return None
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used for a different booking request"
            )
        return RequestedBooking(existing.booking, replayed=True)

    async def cancel_by_patient(
        self,
        connection: Connection,
        *,
        patient_id: UUID,
        booking_id: UUID,
        traceparent: str | None = None,
    ) -> Booking:
        booking, _ = await self._lock(connection, booking_id)
        if booking is None or booking.patient_id != patient_id:
            raise BookingNotFoundError(booking_id)
        outcome = booking.cancel_by_patient()
        await self._finish(connection, booking, "cancel-by-patient", outcome, traceparent)
        return booking

    async def confirm(
        self, connection: Connection, booking_id: UUID, traceparent: str | None = None
    ) -> Outcome | None:
        booking, slot = await self._lock(connection, booking_id)
        if booking is None:
            return None
        # The slot as the read model has it now: the provider may have moved it while the
        # request was on its way (it refuses to move a booked slot afterwards).
        current = slot.snapshot if slot is not None and not slot.hold.deleted else None
        outcome = booking.confirm(current)
        await self._finish(connection, booking, "confirm", outcome, traceparent)
        return outcome

    async def reject(
        self, connection: Connection, booking_id: UUID, reason: str, traceparent: str | None = None
    ) -> Outcome | None:
        booking, _ = await self._lock(connection, booking_id)
        if booking is None:
            return None
        outcome = booking.reject(reason)
        await self._finish(connection, booking, "reject", outcome, traceparent)
        return outcome

    async def expire(self, connection: Connection, booking_id: UUID) -> Outcome | None:
        booking, _ = await self._lock(connection, booking_id)
        if booking is None:
            return None
        outcome = booking.expire(self.clock())
        await self._finish(connection, booking, "expire", outcome, None)
        return outcome

    async def cancel_by_provider(
        self,
        connection: Connection,
        availability_id: UUID,
        reason: str,
        traceparent: str | None = None,
    ) -> list[Booking]:
        """The provider deleted the slot: its live bookings end. The caller holds the slot lock."""
        cancelled = []
        for booking in await BookingRepository(connection).live_for_slot(availability_id):
            outcome = booking.cancel_by_provider(reason)
            await self._finish(connection, booking, "cancel-by-provider", outcome, traceparent)
            cancelled.append(booking)
        return cancelled

    async def _lock(
        self, connection: Connection, booking_id: UUID
    ) -> tuple[Booking | None, LockedSlot | None]:
        """The booking, locked after its slot (the lock order of every step), and the slot."""
        bookings = BookingRepository(connection)
        unlocked = await bookings.get(booking_id)
        if unlocked is None:
            return None, None
        slot = await SlotRepository(connection).lock(unlocked.availability_id)
        return await bookings.get(booking_id, for_update=True), slot

    async def _finish(
        self,
        connection: Connection,
        booking: Booking,
        step: str,
        outcome: Outcome,
        traceparent: str | None,
    ) -> None:
        TRANSITIONS.labels(step, outcome.value).inc()
        if outcome is not Outcome.APPLIED:
            if outcome is Outcome.TOO_LATE:
                logger.info(
                    "input for an ended booking ignored",
                    extra={
                        "booking_id": str(booking.id),
                        "step": step,
                        "status": booking.status.value,
                    },
                )
            return
        await BookingRepository(connection).save(booking)
        if not booking.is_live:
            await SlotRepository(connection).release(booking.availability_id, booking.id)
        await self._publish(connection, booking, traceparent=traceparent)

    async def _publish(
        self, connection: Connection, booking: Booking, *, traceparent: str | None
    ) -> None:
        # The snapshot taken at the request; only bookings stored before it existed re-read.
        patient = booking.patient or await PatientRepository(connection).get(booking.patient_id)
        assert patient is not None, "bookings reference their patient"
        messages = to_messages(booking, patient, booking.collect_events(), traceparent=traceparent)
        # One statement; positions keep the order of appearance, and so each topic's order.
        await self.outbox.add_all(connection, [(m.topic, m.event) for m in messages])
