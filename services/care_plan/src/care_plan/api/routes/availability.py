"""``GET /availability``: the bookable slots, filtered, keyset-paged."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from care_plan.api.deps import AnyCaller, ContainerDep
from care_plan.api.schemas import AvailableSlot, ErrorOut, QueryDateTime
from care_plan.persistence.search import Cursor, SlotQuery, search
from contract.events import EncounterType

router = APIRouter(
    tags=["availability"],
    responses={
        401: {"model": ErrorOut, "description": "Missing or invalid credentials"},
        422: {"model": ErrorOut, "description": "Invalid filter or cursor"},
    },
)

MAX_LIMIT = 1000
FilterText = Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]


@router.get(
    "/availability",
    response_model=list[AvailableSlot],
    summary="Search bookable slots",
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": "With `limit`, when more slots follow: "
                    '`<next page URL>; rel="next"`',
                    "schema": {"type": "string"},
                }
            }
        }
    },
    description=(
        "A JSON array of bookable slots (not deleted, not held by a live booking of this "
        "service, not reported by the provider as booked elsewhere), ordered by "
        "`fromDate` then `id`. Every filter is optional; without any, every bookable slot is "
        "returned. With `limit`, the response is one page and, when more follow, a "
        '`Link: <...>; rel="next"` header carries the URL of the next page (`after` cursor).'
    ),
)
async def search_availability(
    request: Request,
    container: ContainerDep,
    _: AnyCaller,
    speciality: Annotated[FilterText, Query(description="e.g. Dentist (case-insensitive)")] = None,
    encounter_type: Annotated[EncounterType | None, Query(alias="encounterType")] = None,
    provider_id: Annotated[UUID | None, Query(alias="providerId")] = None,
    gender: Annotated[FilterText, Query(description="The provider's gender, e.g. MALE")] = None,
    from_: Annotated[
        QueryDateTime | None,
        Query(alias="from", description="Slots starting at or after (ISO-8601 or dd.MM.yyyy)"),
    ] = None,
    to: Annotated[
        QueryDateTime | None,
        Query(description="Slots ending at or before (ISO-8601 or dd.MM.yyyy)"),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Page size")] = None,
    after: Annotated[
        str | None, Query(max_length=200, description="Cursor from the previous page's Link")
    ] = None,
) -> Response:
    if from_ is not None and to is not None and from_ > to:
        raise RequestValidationError(
            [{"loc": ("query", "from"), "msg": "from must not be after to", "type": "value_error"}]
        )
    query = SlotQuery(
        speciality=speciality,
        encounter_type=encounter_type,
        provider_id=provider_id,
        gender=gender,
        from_=from_,
        to=to,
        limit=limit,
        after=Cursor.decode(after) if after is not None else None,
    )
    async with container.database.connection() as connection:
        page = await search(connection, query)
    headers = {}
    if page.next is not None:
        next_url = request.url.include_query_params(after=page.next.encode())
        headers["Link"] = f'<{next_url}>; rel="next"'
    return Response(page.json, media_type="application/json", headers=headers)
