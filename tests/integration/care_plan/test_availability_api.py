"""``GET /availability``: filters, keyset paging with a Link header, bad input."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from contract.events import EncounterType
from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import FakeProvider, Slot, eventually, new_slot
from tests.integration.care_plan.test_patients_api import assert_error

pytestmark = pytest.mark.integration


async def publish_slots(service: Service, provider: FakeProvider, slots: list[Slot]) -> None:
    """Publish AVAILABILITY_CREATED for each slot and wait until search shows them all."""
    for slot in slots:
        provider.availability("CREATED", slot, version=1)
    wanted = {str(slot.id) for slot in slots}
    specialities = {slot.speciality for slot in slots}

    async def all_visible() -> bool:
        seen: set[str] = set()
        for speciality in specialities:
            found = await service.client.get("/availability", params={"speciality": speciality})
            seen |= {item["id"] for item in found.json()}
        return wanted <= seen

    await eventually(all_visible, what="slots searchable")


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


@pytest.fixture(scope="module")
async def catalogue(service: Service, provider: FakeProvider) -> dict[str, Any]:
    """Eight slots of one speciality from two providers, over eight days, mixed kinds."""
    speciality = f"Cardiology-{uuid.uuid4().hex[:6]}"
    alice, bob = uuid.uuid4(), uuid.uuid4()
    slots = [
        new_slot(
            speciality=speciality,
            provider_id=alice if day % 2 else bob,
            gender="FEMALE" if day % 2 else "MALE",
            encounter_type=EncounterType.VIRTUAL if day % 3 == 0 else EncounterType.ONSITE,
            starts_in=timedelta(days=day),
        )
        for day in range(8)
    ]
    await publish_slots(service, provider, slots)
    return {"speciality": speciality, "alice": alice, "bob": bob, "slots": slots}


async def test_search_returns_a_json_array_of_slots_with_provider_fields(
    service: Service, catalogue: dict[str, Any]
) -> None:
    response = await service.client.get(
        "/availability", params={"speciality": catalogue["speciality"]}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers
    body = response.json()
    first: Slot = catalogue["slots"][0]
    assert body[0] == {
        "id": str(first.id),
        "providerId": str(first.provider_id),
        "firstName": "John",
        "lastName": "Doe",
        "speciality": first.speciality,
        "gender": first.gender,
        "fromDate": first.from_date.isoformat(),
        "toDate": first.to_date.isoformat(),
        "encounterType": first.encounter_type.value,
    }
    assert [item["id"] for item in body] == [str(s.id) for s in catalogue["slots"]]


async def test_no_filters_returns_every_bookable_slot(
    service: Service, catalogue: dict[str, Any]
) -> None:
    everything = ids(await service.client.get("/availability"))
    assert {str(s.id) for s in catalogue["slots"]} <= set(everything)
    assert len(everything) == len(set(everything))


async def test_speciality_is_case_insensitive(service: Service, catalogue: dict[str, Any]) -> None:
    upper = ids(
        await service.client.get(
            "/availability", params={"speciality": catalogue["speciality"].upper()}
        )
    )
    assert upper == [str(s.id) for s in catalogue["slots"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"providerId": "alice"}, lambda s, c: s.provider_id == c["alice"]),
        ({"gender": "female"}, lambda s, c: s.gender == "FEMALE"),
        ({"encounterType": "VIRTUAL"}, lambda s, c: s.encounter_type is EncounterType.VIRTUAL),
        (
            {"encounterType": "ONSITE", "gender": "MALE"},
            lambda s, c: s.encounter_type is EncounterType.ONSITE and s.gender == "MALE",
        ),
    ],
)
async def test_filters_narrow_the_result(
    service: Service, catalogue: dict[str, Any], params: dict[str, str], expected: Any
) -> None:
    query = {"speciality": catalogue["speciality"], **params}
    if query.get("providerId") == "alice":
        query["providerId"] = str(catalogue["alice"])
    found = ids(await service.client.get("/availability", params=query))
    wanted = [str(s.id) for s in catalogue["slots"] if expected(s, catalogue)]
    assert wanted, "the case must select something"
    assert found == wanted


async def test_provider_filter_alone(service: Service, catalogue: dict[str, Any]) -> None:
    found = ids(
        await service.client.get("/availability", params={"providerId": str(catalogue["bob"])})
    )
    assert found == [str(s.id) for s in catalogue["slots"] if s.provider_id == catalogue["bob"]]


async def test_time_window_keeps_slots_inside_it(
    service: Service, catalogue: dict[str, Any]
) -> None:
    slots: list[Slot] = catalogue["slots"]
    params = {
        "speciality": catalogue["speciality"],
        "from": slots[2].from_date.isoformat(),
        "to": slots[4].to_date.isoformat(),
    }
    assert ids(await service.client.get("/availability", params=params)) == [
        str(s.id) for s in slots[2:5]
    ]


async def test_legacy_date_only_filter_is_read_as_midnight_utc(
    service: Service, catalogue: dict[str, Any]
) -> None:
    slots: list[Slot] = catalogue["slots"]
    day = slots[3].from_date
    params = {
        "speciality": catalogue["speciality"],
        "from": day.strftime("%d.%m.%Y"),
        "to": (day + timedelta(days=1)).strftime("%d.%m.%Y"),
    }
    assert ids(await service.client.get("/availability", params=params)) == [str(slots[3].id)]


async def test_keyset_paging_follows_the_link_header_to_the_end(
    service: Service, catalogue: dict[str, Any]
) -> None:
    url: str | None = f"/availability?speciality={catalogue['speciality']}&limit=3"
    pages: list[list[str]] = []
    while url is not None:
        response = await service.client.get(url)
        pages.append(ids(response))
        link = response.headers.get("link")
        if link is None:
            url = None
        else:
            match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert match, link
            url = match.group(1)
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [i for page in pages for i in page] == [str(s.id) for s in catalogue["slots"]]


async def test_an_exactly_full_last_page_has_no_next_link(
    service: Service, catalogue: dict[str, Any]
) -> None:
    response = await service.client.get(
        "/availability", params={"speciality": catalogue["speciality"], "limit": 8}
    )
    assert len(ids(response)) == 8
    assert "link" not in response.headers


async def test_an_unknown_speciality_finds_nothing(service: Service) -> None:
    assert (
        ids(await service.client.get("/availability", params={"speciality": "Nope-" + "x"})) == []
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "99999999999999999999999"}, "limit"),
        ({"encounterType": "TELEPATHY"}, "encounterType"),
        ({"providerId": "not-a-uuid"}, "providerId"),
        ({"from": "yesterday"}, "from"),
        ({"to": "31.02.2030"}, "to"),
        ({"from": "9999-12-31T23:59:59-05:00"}, "from"),
        ({"from": "2030-02-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from"),
        ({"speciality": ""}, "speciality"),
        ({"speciality": "a\u0000b"}, "speciality"),
        ({"gender": "x" * 101}, "gender"),
    ],
)
async def test_search_with_bad_input(service: Service, params: dict[str, str], field: str) -> None:
    body = assert_error(
        await service.client.get("/availability", params=params), 422, "validation_failed"
    )
    assert any(field in d["location"] for d in body["errors"]), body


@pytest.mark.parametrize(
    "after", ["garbage", "Zm9vfGJhcg", "MjAzMC0wMS0wMXxub3QtYS11dWlk", "x" * 201]
)
async def test_search_with_a_cursor_we_did_not_issue(service: Service, after: str) -> None:
    assert_error(
        await service.client.get("/availability", params={"after": after, "limit": 2}),
        422,
        "validation_failed",
    )


async def test_search_needs_the_api_key(service: Service) -> None:
    assert_error(await service.anonymous.get("/availability"), 401, "unauthorized")
