"""``/patients/{patientId}/bookings``: book a slot, list, read and cancel bookings."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Header, Path, Response, status

from care_plan.api.deps import BookingPatientCaller, ContainerDep, PatientCaller, PatientId, Units
from care_plan.api.schemas import BookingBody, BookingOut, ErrorOut
from care_plan.domain import commands
from care_plan.service_layer import handlers
from eventing.problems import too_many_requests_response

router = APIRouter(
    prefix="/patients/{patientId}/bookings",
    tags=["bookings"],
    responses={
        401: {"model": ErrorOut, "description": "Missing or invalid credentials"},
        404: {"model": ErrorOut, "description": "Unknown patient or booking"},
        422: {"model": ErrorOut, "description": "Invalid input"},
    },
)

BookingId = Annotated[UUID, Path(alias="bookingId", description="The booking's id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key (per patient) return the same booking",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingOut,
    summary="Book a slot",
    description=(
        "Creates the booking as `WAITING_FOR_CONFIRMATION` and asks the provider side to hold "
        "the slot; the booking then becomes `CONFIRMED` or `REJECTED`, or `EXPIRED` without a "
        "reply in time. 404 for a slot this service does not know, 409 for a slot that is "
        "deleted, held by a live booking of this service, or reported by the provider as "
        "booked by another booking (made elsewhere)."
    ),
    responses={
        409: {"model": ErrorOut, "description": "The slot cannot be booked"},
        **too_many_requests_response("the booking"),
    },
)
async def request_booking(
    container: ContainerDep,
    audit: BookingPatientCaller,
    patient_id: PatientId,
    body: Annotated[BookingBody, Body()],
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BookingOut:
    try:
        result = await handlers.request_booking(
            commands.RequestBooking(
                patient_id, body.provider_availability_id, body.payment_mode, idempotency_key
            ),
            container.units,
            container.clock,
            # The request's span (tracing on) or a fresh id: every record the booking causes
            # carries a traceparent (CONTRACT.md section 4).
            traceparent=container.tracing.traceparent_for_new_work(),
            audit=audit,
        )
    except Exception:
        # Nothing of the attempt was kept, its record neither: the attempt is recorded apart.
        await container.audit.append(audit)
        raise
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    # What `careplan trace <bookingId>` finds the booking's trace by.
    container.tracing.set_attributes({"booking.id": str(result.booking.id)})
    return BookingOut.of(result.booking)


@router.get("", response_model=list[BookingOut], summary="A patient's bookings, oldest first")
async def list_bookings(units: Units, _: PatientCaller, patient_id: PatientId) -> list[BookingOut]:
    async with units.reading() as uow:
        bookings = await handlers.list_bookings(patient_id, uow)
    return [BookingOut.of(booking) for booking in bookings]


@router.get("/{bookingId}", response_model=BookingOut, summary="Read one booking")
async def get_booking(
    units: Units, _: PatientCaller, patient_id: PatientId, booking_id: BookingId
) -> BookingOut:
    async with units.reading() as uow:
        return BookingOut.of(await handlers.get_booking(patient_id, booking_id, uow))


@router.delete(
    "/{bookingId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel a booking",
    description=(
        "The booking becomes `CANCELLED_BY_PATIENT` (the record is kept), the provider side is "
        "asked to release the slot and `BOOKING_CANCELLED` is published. Cancelling a cancelled "
        "booking again is a no-op; one that was rejected, expired or cancelled by the provider "
        "gets 409."
    ),
    responses={409: {"model": ErrorOut, "description": "The booking already ended"}},
)
async def cancel_booking(
    units: Units, _: PatientCaller, patient_id: PatientId, booking_id: BookingId
) -> Response:
    async with units.begin() as uow:
        await handlers.cancel_booking(commands.CancelBooking(patient_id, booking_id), uow)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
