"""``/providers/{providerId}/availability``: a provider's slots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from eventing.problems import too_many_requests_response
from provider_schedule.api.deps import AvailabilityId, OwnProvider, ProviderId, Units
from provider_schedule.api.errors import error_responses
from provider_schedule.api.schemas import AvailabilityIn, AvailabilityOut
from provider_schedule.domain import commands
from provider_schedule.service_layer import handlers

router = APIRouter(prefix="/providers/{providerId}/availability", tags=["availability"])


def owner_write(summary: str, description: str, *, errors: tuple[int, ...]) -> dict[str, Any]:
    """What every write of a slot declares: only the provider itself may make it, and it is
    shed with 429 while the platform is behind (the admission middleware)."""
    return {
        "dependencies": [OwnProvider],
        "summary": summary,
        "description": description,
        "responses": error_responses(*errors) | too_many_requests_response("the change"),
    }


@router.get(
    "",
    summary="List a provider's live availabilities, by start time",
    responses=error_responses(401, 404, 422),
)
async def list_availability(provider_id: ProviderId, units: Units) -> list[AvailabilityOut]:
    async with units.begin() as uow:
        slots = await handlers.list_availability(provider_id, uow)
    return [AvailabilityOut.of(slot) for slot in slots]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    **owner_write(
        "Add an availability",
        "Publishes `AVAILABILITY_CREATED`. A slot overlapping another live slot of the provider "
        "is refused with 409.",
        errors=(401, 404, 409, 422),
    ),
)
async def create_availability(
    provider_id: ProviderId, body: AvailabilityIn, units: Units, response: Response
) -> AvailabilityOut:
    async with units.begin() as uow:
        slot = await handlers.add_availability(
            commands.AddAvailability(
                provider_id, body.from_date, body.to_date, body.encounter_type
            ),
            uow,
        )
    response.headers["Location"] = f"/providers/{provider_id}/availability/{slot.id}"
    return AvailabilityOut.of(slot)


@router.get(
    "/{availabilityId}",
    summary="Read an availability",
    responses=error_responses(401, 404, 422),
)
async def get_availability(
    provider_id: ProviderId, availability_id: AvailabilityId, units: Units
) -> AvailabilityOut:
    async with units.begin() as uow:
        return AvailabilityOut.of(
            await handlers.get_availability(provider_id, availability_id, uow)
        )


@router.put(
    "/{availabilityId}",
    **owner_write(
        "Change an availability's time or encounter type",
        "Publishes `AVAILABILITY_UPDATED` when something changed. A booked slot cannot change "
        "(409): delete it instead, which cancels its booking.",
        errors=(401, 404, 409, 422),
    ),
)
async def update_availability(
    provider_id: ProviderId, availability_id: AvailabilityId, body: AvailabilityIn, units: Units
) -> AvailabilityOut:
    async with units.begin() as uow:
        slot = await handlers.update_availability(
            commands.UpdateAvailability(
                provider_id, availability_id, body.from_date, body.to_date, body.encounter_type
            ),
            uow,
        )
    return AvailabilityOut.of(slot)


@router.delete(
    "/{availabilityId}",
    status_code=status.HTTP_204_NO_CONTENT,
    **owner_write(
        "Delete an availability",
        "Publishes `AVAILABILITY_DELETED` (with the booking that held it, if any). The slot is "
        "kept as deleted: no longer listed or bookable, and its time is free again.",
        errors=(401, 404, 422),
    ),
)
async def delete_availability(
    provider_id: ProviderId, availability_id: AvailabilityId, units: Units
) -> Response:
    async with units.begin() as uow:
        await handlers.delete_availability(
            commands.DeleteAvailability(provider_id, availability_id), uow
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
