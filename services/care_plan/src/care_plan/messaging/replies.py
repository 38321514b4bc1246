"""The booking reply handler: ``provider.availability.booking.replies`` -> booking state."""

from __future__ import annotations

import logging

from care_plan.domain.model import Outcome
from care_plan.saga import BookingSaga
from contract.events import BookingReply, EventType
from eventing.cloudevents import Event
from eventing.database import Connection

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "care-plan.booking-replies"
DEFAULT_REJECTION = "rejected by the provider side"


class BookingReplyHandler:
    def __init__(self, saga: BookingSaga) -> None:
        self._saga = saga

    async def __call__(self, connection: Connection, event: Event) -> Outcome | None:
        if event.type not in (
            EventType.BOOKING_REQUEST_CONFIRMED,
            EventType.BOOKING_REQUEST_REJECTED,
        ):
            logger.warning(
                "unknown reply type ignored", extra={"ce_id": event.id, "type": event.type}
            )
            return None
        reply = BookingReply.model_validate(event.data)
        if event.type == EventType.BOOKING_REQUEST_CONFIRMED:
            outcome = await self._saga.confirm(connection, reply.booking_id, event.traceparent)
        else:
            outcome = await self._saga.reject(
                connection, reply.booking_id, reply.reason or DEFAULT_REJECTION, event.traceparent
            )
        if outcome is None:
            # Another deployment's booking, or one from before a database reset.
            logger.info(
                "reply for an unknown booking ignored",
                extra={"ce_id": event.id, "booking_id": str(reply.booking_id)},
            )
        return outcome
