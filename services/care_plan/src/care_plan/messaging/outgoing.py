"""Domain events -> CloudEvents of the wire contract (CONTRACT.md sections 1 to 3).

Requests to the provider side are keyed by availability id (all requests for one slot stay in
order: a cancellation never overtakes the creation it cancels); booking events by booking id.
"""

from __future__ import annotations

from collections.abc import Iterable

from care_plan.domain.events import (
    BookingCancelled,
    BookingConfirmed,
    BookingExpired,
    BookingRejected,
    BookingRequested,
    CancellationRequested,
    DomainEvent,
)
from care_plan.domain.model import Booking, Patient
from care_plan.domain.snapshots import patient_snapshot
from contract import sources, topics
from contract.events import (
    BookingEvent,
    BookingRequest,
    BookingSnapshot,
    BookingStatus,
    EventType,
    Slot,
)
from eventing.cloudevents import Event

_BOOKING_EVENT_TYPES: dict[type[DomainEvent], EventType] = {
    BookingConfirmed: EventType.BOOKING_CONFIRMED,
    BookingRejected: EventType.BOOKING_REJECTED,
    BookingExpired: EventType.BOOKING_EXPIRED,
    BookingCancelled: EventType.BOOKING_CANCELLED,
}


def booking_event(booking: Booking, patient: Patient) -> BookingEvent:
    return BookingEvent(
        booking=BookingSnapshot(
            id=booking.id,
            provider_availability_id=booking.availability_id,
            patient_id=booking.patient_id,
            status=booking.status,
            payment_mode=booking.payment_mode,
            reason=booking.reason,
        ),
        patient=patient_snapshot(patient),
        encounter_type=booking.slot.encounter_type,
        slot=Slot(
            from_date=booking.slot.from_date,
            to_date=booking.slot.to_date,
            provider_id=booking.slot.provider_id,
            speciality=booking.slot.speciality,
        ),
    )


def _request(booking: Booking, status: BookingStatus) -> dict[str, object]:
    return BookingRequest(
        id=booking.id,
        provider_availability_id=booking.availability_id,
        patient_id=booking.patient_id,
        status=status,
        payment_mode=booking.payment_mode,
    ).to_json_dict()


def to_messages(
    booking: Booking,
    patient: Patient,
    events: Iterable[DomainEvent],
    traceparent: str | None = None,
) -> list[tuple[str, Event]]:
    """(topic, CloudEvent) for each of ``events``, built from the booking's state after they
    happened: the unit of work's ``MessageMapper``."""
    messages: list[tuple[str, Event]] = []
    subject = str(booking.id)
    for event in events:
        if isinstance(event, BookingRequested | CancellationRequested):
            creation = isinstance(event, BookingRequested)
            kind = (
                EventType.BOOKING_CREATION_REQUEST
                if creation
                else EventType.BOOKING_CANCELLATION_REQUEST
            )
            status = BookingStatus.WAITING_FOR_CONFIRMATION if creation else booking.status
            messages.append(
                (
                    topics.BOOKING_REQUESTS,
                    Event.new(
                        source=sources.CARE_PLAN,
                        type=kind.value,
                        data=_request(booking, status),
                        key=str(booking.availability_id),
                        subject=subject,
                        traceparent=traceparent,
                    ),
                )
            )
        else:
            kind = _BOOKING_EVENT_TYPES[type(event)]
            messages.append(
                (
                    topics.CAREPLAN_BOOKINGS,
                    Event.new(
                        source=sources.CARE_PLAN,
                        type=kind.value,
                        data=booking_event(booking, patient).to_json_dict(),
                        key=str(booking.id),
                        subject=subject,
                        traceparent=traceparent,
                    ),
                )
            )
    return messages
