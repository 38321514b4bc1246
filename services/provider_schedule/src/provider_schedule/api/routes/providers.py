"""``/providers``: create, read, list (paged), replace, patch, delete."""

from __future__ import annotations

from fastapi import APIRouter, Body, Response, status

from eventing.problems import too_many_requests_response
from provider_schedule.api.deps import (
    OperatorOnly,
    OwnProvider,
    PageNumber,
    PageSize,
    ProviderId,
    Units,
)
from provider_schedule.api.errors import error_responses
from provider_schedule.api.schemas import ProviderIn, ProviderOut, ProviderPatch
from provider_schedule.domain import commands
from provider_schedule.service_layer import handlers

TOTAL_COUNT_HEADER = "X-Total-Count"

router = APIRouter(prefix="/providers", tags=["providers"])


@router.post(
    "",
    dependencies=[OperatorOnly],
    status_code=status.HTTP_201_CREATED,
    summary="Register a provider",
    responses=error_responses(401, 422),
)
async def create_provider(body: ProviderIn, units: Units, response: Response) -> ProviderOut:
    async with units.begin() as uow:
        provider = await handlers.register_provider(commands.RegisterProvider(body.profile()), uow)
    response.headers["Location"] = f"/providers/{provider.id}"
    return ProviderOut.of(provider)


@router.get(
    "",
    summary="List providers, a page at a time",
    description=f"Ordered by last name, first name and id. The header `{TOTAL_COUNT_HEADER}` "
    "gives the number of providers.",
    responses=error_responses(401, 422),
)
async def list_providers(
    units: Units, response: Response, page: PageNumber = 0, size: PageSize = 20
) -> list[ProviderOut]:
    async with units.begin() as uow:
        providers, total = await handlers.list_providers(uow, offset=page * size, limit=size)
    response.headers[TOTAL_COUNT_HEADER] = str(total)
    return [ProviderOut.of(provider) for provider in providers]


@router.get("/{providerId}", summary="Read a provider", responses=error_responses(401, 404, 422))
async def get_provider(provider_id: ProviderId, units: Units) -> ProviderOut:
    async with units.begin() as uow:
        return ProviderOut.of(await handlers.get_provider(provider_id, uow))


@router.put(
    "/{providerId}",
    dependencies=[OwnProvider],
    summary="Replace a provider's profile",
    description="Every live availability of the provider is republished (`AVAILABILITY_UPDATED`) "
    "so that consumers' copies carry the new profile.",
    responses=error_responses(401, 404, 422) | too_many_requests_response("the change"),
)
async def replace_provider(provider_id: ProviderId, body: ProviderIn, units: Units) -> ProviderOut:
    async with units.begin() as uow:
        provider = await handlers.update_provider(
            commands.UpdateProvider(provider_id, body.changes()), uow
        )
    return ProviderOut.of(provider)


@router.patch(
    "/{providerId}",
    dependencies=[OwnProvider],
    summary="Change some fields of a provider's profile",
    description="As PUT, for the fields given; an empty body changes nothing.",
    responses=error_responses(401, 404, 422) | too_many_requests_response("the change"),
)
async def patch_provider(
    provider_id: ProviderId,
    units: Units,
    body: ProviderPatch = Body(  # noqa: B008 - FastAPI's way to declare examples
        openapi_examples={"speciality": {"value": {"speciality": "Orthodontist"}}}
    ),
) -> ProviderOut:
    async with units.begin() as uow:
        provider = await handlers.update_provider(
            commands.UpdateProvider(provider_id, body.changes()), uow
        )
    return ProviderOut.of(provider)


@router.delete(
    "/{providerId}",
    dependencies=[OwnProvider],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a provider and its availabilities",
    description="Each live availability is deleted too and `AVAILABILITY_DELETED` published.",
    responses=error_responses(401, 404, 422) | too_many_requests_response("the change"),
)
async def delete_provider(provider_id: ProviderId, units: Units) -> Response:
    async with units.begin() as uow:
        await handlers.delete_provider(commands.DeleteProvider(provider_id), uow)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
