"""The booking reply handler: ``provider.availability.booking.replies`` -> booking state."""

from __future__ import annotations

import logging

from care_plan.domain import commands
from care_plan.domain.model import Outcome
from care_plan.service_layer import handlers
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from contract.events import BookingReply, EventType
from eventing.cloudevents import Event
from eventing.database import Connection
from eventing.inbox import EventHandler

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "care-plan.booking-replies"
DEFAULT_REJECTION = "rejected by the provider side"


def booking_reply_handler(units: UnitOfWorkFactory) -> EventHandler:
    """A handler for ``eventing.inbox.idempotent``/``idempotent_batch``: it runs inside the
    inbox's transaction."""

    async def answer(connection: Connection, event: Event) -> Outcome | None:
        if event.type not in (
            EventType.BOOKING_REQUEST_CONFIRMED,
            EventType.BOOKING_REQUEST_REJECTED,
        ):
            logger.warning(
                "unknown reply type ignored", extra={"ce_id": event.id, "type": event.type}
            )
            return None
        reply = BookingReply.model_validate(event.data)
        async with units.joining(connection, traceparent=event.traceparent) as uow:
            if event.type == EventType.BOOKING_REQUEST_CONFIRMED:
                outcome = await handlers.confirm_booking(
                    commands.ConfirmBooking(reply.booking_id), uow
                )
            else:
                reason = reply.reason or DEFAULT_REJECTION
                outcome = await handlers.reject_booking(
                    commands.RejectBooking(reply.booking_id, reason), uow
                )
        if outcome is None:
            # Another deployment's booking, or one from before a database reset.
            logger.info(
                "reply for an unknown booking ignored",
                extra={"ce_id": event.id, "booking_id": str(reply.booking_id)},
            )
        return outcome

    return answer
