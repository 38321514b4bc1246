"""``/providers`` against the real database and broker, including bad input and the key."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from contract import topics
from devstack.settings import DevstackSettings
from tests.integration.provider_schedule.conftest import (
    API_KEY,
    provider_body,
    slot_body,
)
from tests.integration.provider_schedule.kafka_reading import Received, read_until
from tests.support.problems import assert_problem

pytestmark = pytest.mark.integration


async def _create(client: httpx.AsyncClient, **changes: str) -> dict[str, Any]:
    response = await client.post("/providers", json=provider_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def _assert_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    body = assert_problem(response, status)
    for fragment in fragments:
        assert fragment in response.text, f"{fragment!r} not in {response.text}"
    return body


async def _events_of(settings: DevstackSettings, keys: set[str], count: int) -> list[Received]:
    def enough(records: list[Received]) -> bool:
        return sum(1 for r in records if r.key in keys) >= count

    records = await asyncio.to_thread(read_until, settings, topics.PROVIDER_AVAILABILITY, enough)
    return sorted((r for r in records if r.key in keys), key=lambda r: (r.key or "", r.offset))


# --- create and read -------------------------------------------------------------------------


async def test_create_provider_returns_it_with_an_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/providers", json=provider_body(firstName="  Ada "))

    assert response.status_code == 201
    body = response.json()
    assert uuid.UUID(body["id"])
    assert body == {**provider_body(firstName="Ada"), "id": body["id"]}
    assert response.headers["location"] == f"/providers/{body['id']}"
    assert (await client.get(f"/providers/{body['id']}")).json() == body


async def test_read_provider_not_found(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/providers/{missing}")
    _assert_error(response, 404, f"provider {missing} does not exist")


async def test_read_provider_with_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    body = _assert_error(await client.get("/providers/not-a-uuid"), 422, "providerId")
    assert body["errors"][0]["location"] == "path.providerId"


async def test_list_providers_in_pages_without_gaps_or_repeats(client: httpx.AsyncClient) -> None:
    mine = {(await _create(client, lastName=f"Pager-{n}"))["id"] for n in range(5)}

    seen: list[str] = []
    page, total = 0, None
    while True:
        response = await client.get("/providers", params={"page": page, "size": 2})
        assert response.status_code == 200
        total = int(response.headers["x-total-count"])
        items = response.json()
        assert len(items) <= 2
        if not items:
            break
        seen.extend(item["id"] for item in items)
        page += 1

    assert len(seen) == len(set(seen)) == total
    assert mine <= set(seen)


async def test_list_providers_with_bad_paging_is_422(client: httpx.AsyncClient) -> None:
    for params in ({"page": -1}, {"size": 0}, {"size": 101}, {"page": "first"}):
        _assert_error(await client.get("/providers", params=params), 422, "query.")


# --- bad input -------------------------------------------------------------------------------


async def test_create_provider_with_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/providers", content=b'{"firstName": "John",', headers={"content-type": "application/json"}
    )
    _assert_error(response, 422, "malformed JSON")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"firstName": "\xff"}', "application/json"),
        (b'{"firstName": "\\ud800", "lastName": "D", "speciality": "S", "gender": "M"}',
         "application/json"),
        (b"firstName=John", "application/x-www-form-urlencoded"),
        (b'{"firstName": "John"}', "text/plain"),
    ],
    ids=["empty", "deeply-nested", "invalid-utf8", "lone-surrogate", "form", "text"],
)  # fmt: skip
async def test_create_provider_with_unreadable_bodies_is_4xx(
    client: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await client.post("/providers", content=content,
                                 headers={"content-type": content_type})  # fmt: skip
    assert response.status_code in (400, 422), response.text
    assert response.json()["status"] == response.status_code


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({**provider_body(), "firstName": 42}, "body.firstName"),
        ({**provider_body(), "lastName": ["Doe"]}, "body.lastName"),
        ({**provider_body(), "speciality": ""}, "body.speciality"),
        ({**provider_body(), "gender": "M\x00LE"}, "body.gender"),
        ({"firstName": "John"}, "body.lastName"),
        (["not", "an", "object"], "body"),
    ],
    ids=["number", "array", "empty", "nul", "missing", "array-body"],
)
async def test_create_provider_with_wrong_types_is_422(
    client: httpx.AsyncClient, body: object, location: str
) -> None:
    error = _assert_error(await client.post("/providers", json=body), 422)
    assert location in [item["location"] for item in error["errors"]]


# --- update ----------------------------------------------------------------------------------


async def test_put_replaces_the_profile_and_republishes_live_slots(
    client: httpx.AsyncClient, infrastructure: DevstackSettings
) -> None:
    provider = await _create(client)
    pid = provider["id"]
    kept = [(await client.post(f"/providers/{pid}/availability", json=slot_body(1, h))).json()
            for h in (9, 10)]  # fmt: skip
    gone = (await client.post(f"/providers/{pid}/availability", json=slot_body(1, 11))).json()
    assert (await client.delete(f"/providers/{pid}/availability/{gone['id']}")).status_code == 204

    replacement = provider_body(firstName="Jane", lastName="Roe", speciality="Surgeon",
                                gender="FEMALE")  # fmt: skip
    response = await client.put(f"/providers/{pid}", json=replacement)

    assert response.status_code == 200
    assert response.json() == {**replacement, "id": pid}
    assert (await client.get(f"/providers/{pid}")).json() == {**replacement, "id": pid}
    listed = (await client.get(f"/providers/{pid}/availability")).json()
    assert [s["version"] for s in listed] == [2, 2]

    keys = {s["id"] for s in kept}
    events = await _events_of(infrastructure, keys, count=4)
    updates = [e for e in events if e.event.type == "AVAILABILITY_UPDATED"]
    assert len(events) == 4
    assert sorted(e.key or "" for e in updates) == sorted(keys)
    for update in updates:
        assert update.event.data["provider"] == {**replacement, "id": pid}
        assert update.event.data["availability"]["version"] == 2
    # The deleted slot is not republished: its last event stays its deletion.
    gone_events = await _events_of(infrastructure, {gone["id"]}, count=2)
    assert [e.event.type for e in gone_events] == ["AVAILABILITY_CREATED", "AVAILABILITY_DELETED"]


async def test_put_needs_every_field(client: httpx.AsyncClient) -> None:
    pid = (await _create(client))["id"]
    error = _assert_error(await client.put(f"/providers/{pid}", json={"firstName": "Jane"}), 422)
    assert "body.lastName" in [item["location"] for item in error["errors"]]


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    pid = (await _create(client))["id"]
    slot = (await client.post(f"/providers/{pid}/availability", json=slot_body(2, 9))).json()

    response = await client.patch(f"/providers/{pid}", json={"speciality": "Orthodontist"})

    assert response.status_code == 200
    assert response.json() == {**provider_body(speciality="Orthodontist"), "id": pid}
    after = (await client.get(f"/providers/{pid}/availability/{slot['id']}")).json()
    assert after["version"] == 2


async def test_patch_that_changes_nothing_writes_nothing(client: httpx.AsyncClient) -> None:
    pid = (await _create(client))["id"]
    slot = (await client.post(f"/providers/{pid}/availability", json=slot_body(3, 9))).json()

    for body in ({}, {"firstName": "John"}):
        response = await client.patch(f"/providers/{pid}", json=body)
        assert response.status_code == 200
        assert response.json() == {**provider_body(), "id": pid}
    after = (await client.get(f"/providers/{pid}/availability/{slot['id']}")).json()
    assert after["version"] == 1


async def test_patch_with_null_or_wrong_types_is_422(client: httpx.AsyncClient) -> None:
    pid = (await _create(client))["id"]
    _assert_error(await client.patch(f"/providers/{pid}", json={"firstName": None}), 422,
                  "cannot be null")  # fmt: skip
    _assert_error(await client.patch(f"/providers/{pid}", json={"gender": 1}), 422, "body.gender")
    _assert_error(await client.patch(f"/providers/{pid}", json="John"), 422)


async def test_update_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    _assert_error(await client.put(f"/providers/{missing}", json=provider_body()), 404,
                  str(missing))  # fmt: skip
    _assert_error(await client.patch(f"/providers/{missing}", json={"gender": "FEMALE"}), 404)


# --- delete ----------------------------------------------------------------------------------


async def test_delete_provider_deletes_its_slots_and_publishes_their_deletion(
    client: httpx.AsyncClient, infrastructure: DevstackSettings
) -> None:
    pid = (await _create(client))["id"]
    slots = [(await client.post(f"/providers/{pid}/availability", json=slot_body(4, h))).json()
             for h in (9, 10, 11)]  # fmt: skip

    response = await client.delete(f"/providers/{pid}")

    assert response.status_code == 204
    assert response.content == b""
    _assert_error(await client.get(f"/providers/{pid}"), 404)
    _assert_error(await client.get(f"/providers/{pid}/availability"), 404)
    _assert_error(await client.delete(f"/providers/{pid}"), 404)
    keys = {s["id"] for s in slots}
    events = await _events_of(infrastructure, keys, count=6)
    deletions = [e for e in events if e.event.type == "AVAILABILITY_DELETED"]
    assert sorted(e.key or "" for e in deletions) == sorted(keys)
    for deletion in deletions:
        assert deletion.event.data["provider"]["id"] == pid
        assert deletion.event.data["availability"]["version"] == 2


async def test_delete_provider_without_slots(client: httpx.AsyncClient) -> None:
    pid = (await _create(client))["id"]
    assert (await client.delete(f"/providers/{pid}")).status_code == 204
    _assert_error(await client.get(f"/providers/{pid}"), 404)
    listed: set[str] = set()
    page = 0
    while items := (await client.get("/providers", params={"page": page, "size": 100})).json():
        listed.update(item["id"] for item in items)
        page += 1
    assert listed
    assert pid not in listed


async def test_delete_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    _assert_error(await client.delete(f"/providers/{uuid.uuid4()}"), 404)


# --- the key, health, metrics, documents -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/providers"),
        ("POST", "/providers"),
        ("GET", f"/providers/{uuid.uuid4()}"),
        ("PUT", f"/providers/{uuid.uuid4()}"),
        ("PATCH", f"/providers/{uuid.uuid4()}"),
        ("DELETE", f"/providers/{uuid.uuid4()}"),
        ("GET", f"/providers/{uuid.uuid4()}/availability"),
        ("POST", f"/providers/{uuid.uuid4()}/availability"),
        ("GET", f"/providers/{uuid.uuid4()}/availability/{uuid.uuid4()}"),
        ("PUT", f"/providers/{uuid.uuid4()}/availability/{uuid.uuid4()}"),
        ("DELETE", f"/providers/{uuid.uuid4()}/availability/{uuid.uuid4()}"),
    ],
)
async def test_every_api_path_needs_the_key(
    anonymous: httpx.AsyncClient, method: str, path: str
) -> None:
    # A malformed body must not be looked at before the key is checked.
    for headers in ({}, {"X-API-KEY": "wrong"}, {"X-API-KEY": API_KEY + "x"}):
        response = await anonymous.request(method, path, content=b"{oops", headers=headers)
        body = _assert_error(response, 401)
        assert body["title"] == "Unauthorized"
        assert "X-API-KEY" in body["detail"]


async def test_the_right_key_is_accepted_in_any_header_case(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/providers", headers={"x-api-key": API_KEY})
    assert response.status_code == 200


async def test_health_metrics_and_docs_need_no_key(anonymous: httpx.AsyncClient) -> None:
    live = await anonymous.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "UP"}
    ready = await anonymous.get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert {key: body[key] for key in ("status", "degraded", "checks")} == {
        "status": "UP",
        "degraded": False,
        "checks": {"database": "UP", "workers": "UP", "kafka": "UP"},
    }
    assert set(body["outbox"]) == {"unpublishedEvents", "oldestUnpublishedAgeSeconds"}
    await anonymous.get("/providers")  # a 401, counted by the metrics
    metrics = await anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    assert 'route="unauthenticated",status="401"' in metrics.text
    assert 'route="/health/ready",status="200"' in metrics.text
    assert (await anonymous.get("/docs")).status_code == 200


async def test_openapi_documents_every_path_the_key_and_examples(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/providers"]) == {"get", "post"}
    assert set(paths["/providers/{providerId}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/providers/{providerId}/availability"]) == {"get", "post"}
    assert set(paths["/providers/{providerId}/availability/{availabilityId}"]) == {
        "get", "put", "delete"}  # fmt: skip
    schemes = document["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-KEY",
                                       "description": schemes["APIKeyHeader"]["description"]}  # fmt: skip
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    # Alternatives (one entry each): a bearer token or the API key.
    assert paths["/providers"]["post"]["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    schemas = document["components"]["schemas"]
    assert schemas["ProviderIn"]["examples"][0]["firstName"] == "John"
    assert schemas["AvailabilityIn"]["examples"][1]["fromDate"] == "01.12.2026"
    assert "404" in paths["/providers/{providerId}"]["get"]["responses"]
