"""``/providers/{id}/availability`` against the real database and broker, with bad input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from contract import topics
from devstack.settings import DevstackSettings
from provider_schedule.domain import commands
from provider_schedule.domain.decisions import Confirmed
from provider_schedule.service_layer import handlers
from tests.integration.provider_schedule.conftest import ScheduleApp, provider_body, slot_body
from tests.integration.provider_schedule.kafka_reading import Received, read_until
from tests.support.problems import assert_problem

pytestmark = pytest.mark.integration


async def _provider(client: httpx.AsyncClient) -> str:
    response = await client.post("/providers", json=provider_body())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _slot(client: httpx.AsyncClient, pid: str, body: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"/providers/{pid}/availability", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _assert_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    body = assert_problem(response, status)
    for fragment in fragments:
        assert fragment in response.text, f"{fragment!r} not in {response.text}"
    return body


async def _events_of(settings: DevstackSettings, key: str, count: int) -> list[Received]:
    def enough(records: list[Received]) -> bool:
        return sum(1 for r in records if r.key == key) >= count

    records = await asyncio.to_thread(read_until, settings, topics.PROVIDER_AVAILABILITY, enough)
    return sorted((r for r in records if r.key == key), key=lambda r: r.offset)


async def _book(app: ScheduleApp, availability_id: str) -> uuid.UUID:
    booking = uuid.uuid4()
    async with app.container.units.begin() as uow:
        decision = await handlers.request_booking(
            commands.RequestBooking(booking, uuid.UUID(availability_id)), uow
        )
    assert isinstance(decision, Confirmed)
    return booking


# --- create ----------------------------------------------------------------------------------


async def test_create_availability_stores_it_and_publishes_created(
    client: httpx.AsyncClient, infrastructure: DevstackSettings
) -> None:
    pid = await _provider(client)
    body = {"fromDate": "2031-02-01T10:00:00+02:00", "toDate": "2031-02-01T10:30:00+02:00",
            "encounterType": "VIRTUAL"}  # fmt: skip

    response = await client.post(f"/providers/{pid}/availability", json=body)

    assert response.status_code == 201
    slot = response.json()
    assert slot == {
        "id": slot["id"],
        "fromDate": "2031-02-01T08:00:00+00:00",
        "toDate": "2031-02-01T08:30:00+00:00",
        "providerId": pid,
        "bookingReferenceId": None,
        "encounterType": "VIRTUAL",
        "version": 1,
    }
    assert response.headers["location"] == f"/providers/{pid}/availability/{slot['id']}"
    [created] = await _events_of(infrastructure, slot["id"], 1)
    assert created.event.type == "AVAILABILITY_CREATED"
    assert created.event.source == "/provider-schedule"
    assert created.event.data["provider"] == {**provider_body(), "id": pid}
    assert created.event.data["availability"] == {
        "id": slot["id"], "fromDate": slot["fromDate"], "toDate": slot["toDate"],
        "encounterType": "VIRTUAL", "bookingReferenceId": None, "version": 1,
    }  # fmt: skip


async def test_legacy_dates_are_midnight_utc_and_encounter_type_defaults(
    client: httpx.AsyncClient,
) -> None:
    pid = await _provider(client)
    slot = await _slot(client, pid, {"fromDate": "01.01.2023", "toDate": "02.01.2023"})
    assert slot["fromDate"] == "2023-01-01T00:00:00+00:00"
    assert slot["toDate"] == "2023-01-02T00:00:00+00:00"
    assert slot["encounterType"] == "NOT_SELECTED"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"fromDate": "2031-01-01T10:00:00Z", "toDate": "2031-01-01T10:00:00Z"}, "must be before"),
        ({"fromDate": "2031-01-01T11:00:00Z", "toDate": "2031-01-01T10:00:00Z"}, "must be before"),
        ({"fromDate": "02.01.2031", "toDate": "01.01.2031"}, "must be before"),
        ({"fromDate": "2031-01-01T10:00:00Z", "toDate": "2031-01-01T11:00:00Z",
          "encounterType": "HOME_VISIT"}, "body.encounterType"),
        ({"fromDate": "2031-01-01T10:00:00Z", "toDate": "2031-01-01T11:00:00Z",
          "encounterType": 1}, "body.encounterType"),
        ({"fromDate": 1_924_941_600, "toDate": "2031-01-01T11:00:00Z"}, "body.fromDate"),
        ({"fromDate": "next tuesday", "toDate": "2031-01-01T11:00:00Z"}, "body.fromDate"),
        ({"fromDate": "31.02.2031", "toDate": "01.03.2031"}, "body.fromDate"),
        ({"fromDate": "0001-01-01T00:00:00+05:00", "toDate": "01.03.2031"}, "body.fromDate"),
        ({"toDate": "2031-01-01T11:00:00Z"}, "body.fromDate"),
        ({"fromDate": None, "toDate": "2031-01-01T11:00:00Z"}, "body.fromDate"),
    ],
    ids=["empty-range", "reversed", "reversed-legacy", "unknown-encounter", "encounter-number",
         "date-number", "date-words", "no-such-day", "out-of-range", "missing", "null"],
)  # fmt: skip
async def test_create_availability_with_bad_input_is_422(
    client: httpx.AsyncClient, body: dict[str, Any], fragment: str
) -> None:
    pid = await _provider(client)
    _assert_error(await client.post(f"/providers/{pid}/availability", json=body), 422, fragment)
    assert (await client.get(f"/providers/{pid}/availability")).json() == []


async def test_create_availability_with_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    response = await client.post(f"/providers/{pid}/availability", content=b"fromDate=tomorrow",
                                 headers={"content-type": "application/json"})  # fmt: skip
    _assert_error(response, 422, "malformed JSON")


async def test_create_availability_for_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.post(f"/providers/{missing}/availability", json=slot_body(1, 9))
    _assert_error(response, 404, f"provider {missing} does not exist")


async def test_overlapping_slots_are_refused_back_to_back_ones_accepted(
    client: httpx.AsyncClient,
) -> None:
    pid = await _provider(client)
    await _slot(client, pid, slot_body(5, 9, minutes=60))

    for body in (slot_body(5, 9, minutes=60), slot_body(5, 8, minutes=90),
                 {"fromDate": "2031-01-05T09:59:00Z", "toDate": "2031-01-05T11:00:00Z"}):  # fmt: skip
        response = await client.post(f"/providers/{pid}/availability", json=body)
        _assert_error(response, 409, "overlaps another availability")

    await _slot(client, pid, slot_body(5, 10, minutes=60))  # starts when the first ends
    await _slot(client, pid, slot_body(5, 8, minutes=60))  # ends when the first starts
    other = await _provider(client)
    await _slot(client, other, slot_body(5, 9, minutes=60))  # another provider's time
    assert len((await client.get(f"/providers/{pid}/availability")).json()) == 3


async def test_concurrent_overlapping_creates_admit_exactly_one(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    bodies = [slot_body(6, 9, minutes=30 + n) for n in range(10)]

    responses = await asyncio.gather(
        *(client.post(f"/providers/{pid}/availability", json=body) for body in bodies)
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 9
    assert len((await client.get(f"/providers/{pid}/availability")).json()) == 1


# --- read and list ---------------------------------------------------------------------------


async def test_list_shows_live_slots_by_start_time(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    late = await _slot(client, pid, slot_body(7, 15))
    early = await _slot(client, pid, slot_body(7, 9))
    gone = await _slot(client, pid, slot_body(7, 12))
    await client.delete(f"/providers/{pid}/availability/{gone['id']}")

    listed = (await client.get(f"/providers/{pid}/availability")).json()

    assert listed == [early, late]


async def test_list_for_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get(f"/providers/{uuid.uuid4()}/availability"), 404)


async def test_read_availability_and_its_not_found_cases(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    slot = await _slot(client, pid, slot_body(8, 9))
    other = await _provider(client)

    assert (await client.get(f"/providers/{pid}/availability/{slot['id']}")).json() == slot
    missing = uuid.uuid4()
    _assert_error(await client.get(f"/providers/{pid}/availability/{missing}"), 404, str(missing))
    # A slot is only found under its own provider.
    _assert_error(await client.get(f"/providers/{other}/availability/{slot['id']}"), 404)
    _assert_error(await client.get(f"/providers/{pid}/availability/nope"), 422,
                  "path.availabilityId")  # fmt: skip


# --- update ----------------------------------------------------------------------------------


async def test_put_moves_the_slot_and_publishes_the_new_version(
    client: httpx.AsyncClient, infrastructure: DevstackSettings
) -> None:
    pid = await _provider(client)
    slot = await _slot(client, pid, slot_body(9, 9))

    moved = slot_body(9, 14, encounter="VIRTUAL")
    response = await client.put(f"/providers/{pid}/availability/{slot['id']}", json=moved)

    assert response.status_code == 200
    body = response.json()
    assert (body["fromDate"], body["toDate"], body["encounterType"], body["version"]) == (
        "2031-01-09T14:00:00+00:00", "2031-01-09T14:30:00+00:00", "VIRTUAL", 2)  # fmt: skip
    created, updated = await _events_of(infrastructure, slot["id"], 2)
    assert (created.event.type, updated.event.type) == ("AVAILABILITY_CREATED",
                                                        "AVAILABILITY_UPDATED")  # fmt: skip
    assert updated.event.data["availability"]["fromDate"] == "2031-01-09T14:00:00+00:00"
    assert updated.event.data["availability"]["version"] == 2

    # The same values again are no change: no new version.
    again = await client.put(f"/providers/{pid}/availability/{slot['id']}", json=moved)
    assert again.json()["version"] == 2


async def test_put_into_another_slot_is_409_and_bad_input_422(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    first = await _slot(client, pid, slot_body(10, 9))
    await _slot(client, pid, slot_body(10, 10))
    path = f"/providers/{pid}/availability/{first['id']}"

    _assert_error(await client.put(path, json=slot_body(10, 10)), 409, "overlaps")
    _assert_error(await client.put(path, json={**slot_body(10, 9), "toDate": "01.01.2031"}), 422,
                  "must be before")  # fmt: skip
    _assert_error(await client.put(path, json={**slot_body(10, 9), "encounterType": "X"}), 422)
    _assert_error(await client.put(path, content=b"[", headers={"content-type":
                                                                 "application/json"}), 422)  # fmt: skip
    assert (await client.get(path)).json() == first


async def test_put_unknown_availability_is_404(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    response = await client.put(f"/providers/{pid}/availability/{uuid.uuid4()}",
                                json=slot_body(11, 9))  # fmt: skip
    _assert_error(response, 404)
    response = await client.put(f"/providers/{uuid.uuid4()}/availability/{uuid.uuid4()}",
                                json=slot_body(11, 9))  # fmt: skip
    _assert_error(response, 404)


async def test_booked_slot_cannot_be_changed(
    client: httpx.AsyncClient, schedule_app: ScheduleApp
) -> None:
    pid = await _provider(client)
    slot = await _slot(client, pid, slot_body(12, 9))
    booking = await _book(schedule_app, slot["id"])
    path = f"/providers/{pid}/availability/{slot['id']}"

    _assert_error(await client.put(path, json=slot_body(12, 11)), 409, "is booked")

    current = (await client.get(path)).json()
    assert current["bookingReferenceId"] == str(booking)
    assert current["version"] == 2


# --- delete ----------------------------------------------------------------------------------


async def test_delete_hides_the_slot_frees_its_time_and_publishes_deleted(
    client: httpx.AsyncClient, infrastructure: DevstackSettings
) -> None:
    pid = await _provider(client)
    slot = await _slot(client, pid, slot_body(13, 9))
    path = f"/providers/{pid}/availability/{slot['id']}"

    response = await client.delete(path)

    assert response.status_code == 204
    assert response.content == b""
    _assert_error(await client.get(path), 404)
    _assert_error(await client.delete(path), 404)
    _assert_error(await client.put(path, json=slot_body(13, 9)), 404)
    assert (await client.get(f"/providers/{pid}/availability")).json() == []
    created, deleted = await _events_of(infrastructure, slot["id"], 2)
    assert deleted.event.type == "AVAILABILITY_DELETED"
    assert deleted.event.data["availability"]["version"] == 2
    assert created.offset < deleted.offset
    # Its time can be offered again.
    await _slot(client, pid, slot_body(13, 9))


async def test_deleting_a_booked_slot_tells_who_held_it(
    client: httpx.AsyncClient, schedule_app: ScheduleApp, infrastructure: DevstackSettings
) -> None:
    pid = await _provider(client)
    slot = await _slot(client, pid, slot_body(14, 9))
    booking = await _book(schedule_app, slot["id"])

    assert (await client.delete(f"/providers/{pid}/availability/{slot['id']}")).status_code == 204

    events = await _events_of(infrastructure, slot["id"], 3)
    assert [e.event.type for e in events] == ["AVAILABILITY_CREATED", "AVAILABILITY_UPDATED",
                                              "AVAILABILITY_DELETED"]  # fmt: skip
    assert [e.event.data["availability"]["version"] for e in events] == [1, 2, 3]
    assert events[-1].event.data["availability"]["bookingReferenceId"] == str(booking)


async def test_delete_unknown_availability_is_404(client: httpx.AsyncClient) -> None:
    pid = await _provider(client)
    _assert_error(await client.delete(f"/providers/{pid}/availability/{uuid.uuid4()}"), 404)
    _assert_error(await client.delete(f"/providers/{pid}/availability/1"), 422)
