"""The booking responder of the real service process (started as `careplan up` starts it),
fed through real Kafka: races for slots, redeliveries, retries, rejections and cancellations
(also ahead of their creation)."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import httpx
import pytest
from confluent_kafka import Producer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contract import sources, topics
from contract.events import BookingRequest, EventType
from eventing.cloudevents import Event
from provider_schedule.persistence.tables import (
    availabilities,
    cancelled_bookings,
    inbox,
    outbox,
)
from tests.integration.provider_schedule.conftest import RunningService, provider_body
from tests.integration.provider_schedule.kafka_reading import (
    Received,
    produce,
    read_to_end,
    read_until,
)
from tests.support.kafka import DELIBERATELY_INVALID

pytestmark = pytest.mark.integration

PRODUCERS = 10
DEADLINE_SECONDS = 120.0


@pytest.fixture(scope="module")
async def database(service: RunningService) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(service.settings.sqlalchemy_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def api(service: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers={"X-API-KEY": service.api_key},
                                 timeout=10) as client:  # fmt: skip
        yield client


async def _open_slots(api: httpx.AsyncClient, count: int) -> tuple[str, list[uuid.UUID]]:
    """A new provider and ``count`` back-to-back half-hour slots of it."""
    provider = await api.post("/providers", json=provider_body(lastName=f"Race-{count}"))
    assert provider.status_code == 201, provider.text
    pid = provider.json()["id"]
    slots = []
    for n in range(count):
        start = datetime(2032, 1, 1, tzinfo=UTC).timestamp() + n * 1800
        body = {"fromDate": datetime.fromtimestamp(start, UTC).isoformat(),
                "toDate": datetime.fromtimestamp(start + 1800, UTC).isoformat(),
                "encounterType": "ONSITE"}  # fmt: skip
        response = await api.post(f"/providers/{pid}/availability", json=body)
        assert response.status_code == 201, response.text
        slots.append(uuid.UUID(response.json()["id"]))
    return pid, slots


def _request(booking: uuid.UUID, slot: uuid.UUID, *, kind: EventType = EventType.BOOKING_CREATION_REQUEST,
             event_id: str | None = None) -> Event:  # fmt: skip
    data = BookingRequest(id=booking, provider_availability_id=slot, patient_id=uuid.uuid4())
    return Event(id=event_id or str(uuid.uuid4()), source=sources.CARE_PLAN, type=kind.value,
                 data=data.to_json_dict(), key=str(slot), time=datetime.now(UTC))  # fmt: skip


def _produce_concurrently(service: RunningService, batches: Sequence[Sequence[Event]]) -> None:
    """One producer (and thread) per batch, released together."""
    start = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def send(batch: Sequence[Event]) -> None:
        try:
            start.wait(timeout=30)
            produce(service.settings, topics.BOOKING_REQUESTS, batch)
        except BaseException as error:  # reported by the test thread below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_SECONDS)
    assert not errors, errors


def _replies_for(service: RunningService, bookings: set[str], per_booking: int) -> list[Received]:
    """The replies to ``bookings``, once each has ``per_booking`` of them."""
    return _replies_until(service, dict.fromkeys(bookings, per_booking))


def _replies_until(service: RunningService, expected: dict[str, int]) -> list[Received]:
    """The replies to the bookings in ``expected``, once each has (at least) that many."""

    def answered(records: list[Received]) -> bool:
        counts = Counter(r.key for r in records if r.key in expected)
        return all(counts[booking] >= n for booking, n in expected.items())

    read_until(service.settings, topics.BOOKING_REPLIES, answered, timeout=DEADLINE_SECONDS)
    return _all_replies_for(service, set(expected))


def _all_replies_for(service: RunningService, bookings: set[str]) -> list[Received]:
    return [r for r in read_to_end(service.settings, topics.BOOKING_REPLIES) if r.key in bookings]


async def _wait_until_relayed(database: AsyncEngine, keys: set[str]) -> None:
    """Until no outbox row for these keys waits: then the topics hold all there will be."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        async with database.connect() as connection:
            waiting = await connection.scalar(
                select(func.count()).select_from(outbox)
                .where(outbox.c.message_key.in_(keys), outbox.c.published_at.is_(None)))  # fmt: skip
        if waiting == 0:
            return
        assert time.monotonic() < deadline, f"{waiting} outbox rows never relayed"
        await asyncio.sleep(0.1)


async def _holders(
    database: AsyncEngine, slots: Sequence[uuid.UUID]
) -> dict[str, tuple[str | None, int]]:
    async with database.connect() as connection:
        rows = await connection.execute(
            select(availabilities.c.id, availabilities.c.booking_reference_id,
                   availabilities.c.version).where(availabilities.c.id.in_(slots)))  # fmt: skip
        return {str(row.id): (str(row.booking_reference_id) if row.booking_reference_id else None,
                              row.version) for row in rows}  # fmt: skip


async def _outbox_rows(database: AsyncEngine, topic: str, keys: set[str]) -> list[tuple[str, str]]:
    async with database.connect() as connection:
        rows = await connection.execute(
            select(outbox.c.message_key, outbox.c.event_type)
            .where(outbox.c.topic == topic, outbox.c.message_key.in_(keys)))  # fmt: skip
        return [(row.message_key, row.event_type) for row in rows]


def _verdicts(replies: Sequence[Received]) -> dict[str, list[tuple[str, str | None]]]:
    verdicts: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for reply in sorted(replies, key=lambda r: (r.partition, r.offset)):
        verdicts[reply.key or ""].append((reply.event.type, reply.event.data.get("reason")))
    return verdicts


def _assert_replies_agree_with_the_database(
    replies: Sequence[Received], requests: dict[str, uuid.UUID],
    holders: dict[str, tuple[str | None, int]],
) -> None:  # fmt: skip
    confirmed_per_slot: dict[str, set[str]] = defaultdict(set)
    for reply in replies:
        booking = reply.key or ""
        slot = str(requests[booking])
        assert reply.event.data["bookingId"] == booking
        assert reply.event.data["availabilityId"] == slot
        assert reply.event.source == "/provider-schedule"
        if reply.event.type == EventType.BOOKING_REQUEST_CONFIRMED:
            assert "reason" not in reply.event.data
            confirmed_per_slot[slot].add(booking)
        else:
            assert reply.event.type == EventType.BOOKING_REQUEST_REJECTED
            assert reply.event.data["reason"] == (
                f"already booked by another booking: availability {slot} is taken"
            )
    assert {slot: holder for slot, (holder, _) in holders.items()} == {
        slot: next(iter(bookings)) for slot, bookings in confirmed_per_slot.items()
    }
    assert all(len(bookings) == 1 for bookings in confirmed_per_slot.values())


async def test_1000_requests_for_100_slots_from_10_producers_confirm_exactly_100(
    service: RunningService, api: httpx.AsyncClient, database: AsyncEngine
) -> None:
    _, slots = await _open_slots(api, 100)
    # Ten bookings race for every slot, one from each producer, in a shuffled order.
    batches: list[list[Event]] = []
    requests: dict[str, uuid.UUID] = {}
    for _ in range(PRODUCERS):
        batch = []
        for slot in random.sample(slots, len(slots)):
            booking = uuid.uuid4()
            requests[str(booking)] = slot
            batch.append(_request(booking, slot))
        batches.append(batch)
    assert len(requests) == 1000

    started = time.monotonic()
    await asyncio.to_thread(_produce_concurrently, service, batches)
    await asyncio.to_thread(_replies_for, service, set(requests), 1)
    elapsed = time.monotonic() - started
    await _wait_until_relayed(database, set(requests) | {str(s) for s in slots})
    replies = await asyncio.to_thread(_all_replies_for, service, set(requests))
    print(f"\n1,000 booking requests answered in {elapsed:.2f} s ({1000 / elapsed:.0f} requests/s)")

    kinds = Counter(reply.event.type for reply in replies)
    assert kinds == {"BOOKING_REQUEST_CONFIRMED": 100, "BOOKING_REQUEST_REJECTED": 900}
    assert Counter(reply.key for reply in replies) == dict.fromkeys(requests, 1)
    holders = await _holders(database, slots)
    assert len(holders) == 100
    assert {version for _, version in holders.values()} == {2}
    _assert_replies_agree_with_the_database(replies, requests, holders)

    # Each slot changed once: CREATED, then one UPDATED naming its holder, version 2.
    slot_keys = {str(slot) for slot in slots}
    events = [r for r in read_to_end(service.settings, topics.PROVIDER_AVAILABILITY)
              if r.key in slot_keys]  # fmt: skip
    updates = [e for e in events if e.event.type == "AVAILABILITY_UPDATED"]
    assert len(events) == 200
    assert {(u.key, u.event.data["availability"]["bookingReferenceId"],
             u.event.data["availability"]["version"]) for u in updates} == {
        (slot, holder, 2) for slot, (holder, _) in holders.items()}  # fmt: skip
    async with database.connect() as connection:
        marked = await connection.scalar(select(func.count()).select_from(inbox).where(
            inbox.c.event_id.in_([e.id for batch in batches for e in batch])))  # fmt: skip
    assert marked == 1000


async def test_every_request_redelivered_twice_gives_the_same_outcome(
    service: RunningService, api: httpx.AsyncClient, database: AsyncEngine
) -> None:
    _, slots = await _open_slots(api, 20)
    requests: dict[str, uuid.UUID] = {}
    originals: list[list[Event]] = [[] for _ in range(PRODUCERS)]
    for slot in slots:
        for producer in range(PRODUCERS):
            booking = uuid.uuid4()
            requests[str(booking)] = slot
            originals[producer].append(_request(booking, slot))
    # Each batch goes out twice, the copy from the next producer: a redelivery has the same
    # ce_id (a relay that crashed before marking, a consumer before committing).
    redelivered = [originals[p] + originals[(p - 1) % PRODUCERS] for p in range(PRODUCERS)]
    for batch in redelivered:
        random.shuffle(batch)

    await asyncio.to_thread(_produce_concurrently, service, redelivered)
    await asyncio.to_thread(_replies_for, service, set(requests), 1)
    await _wait_until_relayed(database, set(requests) | {str(s) for s in slots})
    first = await asyncio.to_thread(_all_replies_for, service, set(requests))
    holders = await _holders(database, slots)

    assert len(first) == 200, "a redelivered request is answered once"
    assert Counter(r.event.type for r in first) == {"BOOKING_REQUEST_CONFIRMED": 20,
                                                    "BOOKING_REQUEST_REJECTED": 180}  # fmt: skip
    _assert_replies_agree_with_the_database(first, requests, holders)

    # Then every booking asks again, twice, under a new ce_id (care-plan retrying): each gets
    # the verdict it got before, and no slot changes.
    retries = []
    for booking, slot in requests.items():
        retry = _request(uuid.UUID(booking), slot)
        retries.append([retry, retry])
    retry_batches = [[e for pair in retries[p::PRODUCERS] for e in pair] for p in range(PRODUCERS)]
    await asyncio.to_thread(_produce_concurrently, service, retry_batches)
    await asyncio.to_thread(_replies_for, service, set(requests), 2)
    await _wait_until_relayed(database, set(requests) | {str(s) for s in slots})
    replies = await asyncio.to_thread(_all_replies_for, service, set(requests))

    assert len(replies) == 400
    verdicts = _verdicts(replies)
    assert all(len(v) == 2 and v[0] == v[1] for v in verdicts.values()), "verdicts changed"
    assert await _holders(database, slots) == holders
    slot_events = await _outbox_rows(
        database, topics.PROVIDER_AVAILABILITY, {str(s) for s in slots}
    )
    assert Counter(kind for _, kind in slot_events) == {"AVAILABILITY_CREATED": 20,
                                                        "AVAILABILITY_UPDATED": 20}  # fmt: skip


async def test_rejections_say_why_and_cancellation_frees_the_slot(
    service: RunningService, api: httpx.AsyncClient, database: AsyncEngine
) -> None:
    pid, (deleted, contested) = await _open_slots(api, 2)
    assert (await api.delete(f"/providers/{pid}/availability/{deleted}")).status_code == 204
    unknown = uuid.uuid4()
    first, second, third, late = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cancel = EventType.BOOKING_CANCELLATION_REQUEST
    sequence = [
        _request(late, deleted),
        _request(first, contested),
        _request(second, contested),
        _request(second, contested, kind=cancel),  # not the holder: the slot stays held
        _request(first, contested, kind=cancel),  # the holder: the slot is free again
        _request(second, contested),  # but not for a cancelled booking
        _request(third, contested),  # for another one
    ]
    await asyncio.to_thread(produce, service.settings, topics.BOOKING_REQUESTS, sequence)
    structured = _structured_request(_request(unknown, unknown))
    await asyncio.to_thread(_produce_raw, service, *structured)

    expected = {str(late): 1, str(unknown): 1, str(first): 1, str(second): 2, str(third): 1}
    verdicts = _verdicts(await asyncio.to_thread(_replies_until, service, expected))

    assert verdicts[str(late)] == [("BOOKING_REQUEST_REJECTED",
                                    f"slot deleted: availability {deleted} was deleted")]  # fmt: skip
    assert verdicts[str(unknown)] == [("BOOKING_REQUEST_REJECTED",
                                       f"unknown slot: availability {unknown} does not exist")]  # fmt: skip
    assert verdicts[str(first)] == [("BOOKING_REQUEST_CONFIRMED", None)]
    assert verdicts[str(second)] == [
        ("BOOKING_REQUEST_REJECTED",
         f"already booked by another booking: availability {contested} is taken"),
        ("BOOKING_REQUEST_REJECTED", f"booking was cancelled: booking {second} cannot be confirmed"),
    ]  # fmt: skip
    assert verdicts[str(third)] == [("BOOKING_REQUEST_CONFIRMED", None)]
    await _wait_until_relayed(database, {str(contested)})
    events = [r for r in read_to_end(service.settings, topics.PROVIDER_AVAILABILITY)
              if r.key == str(contested)]  # fmt: skip
    assert [(e.event.type, e.event.data["availability"]["bookingReferenceId"],
             e.event.data["availability"]["version"]) for e in events] == [
        ("AVAILABILITY_CREATED", None, 1),
        ("AVAILABILITY_UPDATED", str(first), 2),
        ("AVAILABILITY_UPDATED", None, 3),
        ("AVAILABILITY_UPDATED", str(third), 4),
    ]  # fmt: skip


async def test_cancellation_that_overtakes_its_creation_keeps_the_slot_free(
    service: RunningService, api: httpx.AsyncClient, database: AsyncEngine
) -> None:
    # The Java Care Plan keys requests by event type: a booking's cancellation can arrive
    # before its creation. Here it does, twice (care-plan retrying under a new ce_id).
    _, (slot,) = await _open_slots(api, 1)
    dead, other = uuid.uuid4(), uuid.uuid4()
    cancel = EventType.BOOKING_CANCELLATION_REQUEST
    sequence = [
        _request(dead, slot, kind=cancel),
        _request(dead, slot, kind=cancel),
        _request(dead, slot),  # late: rejected, the slot stays free
        _request(other, slot),  # and another booking takes it
        _request(dead, slot),  # retried: still rejected
    ]
    await asyncio.to_thread(produce, service.settings, topics.BOOKING_REQUESTS, sequence)

    expected = {str(dead): 2, str(other): 1}
    verdicts = _verdicts(await asyncio.to_thread(_replies_until, service, expected))

    cancelled = f"booking was cancelled: booking {dead} cannot be confirmed"
    assert verdicts[str(dead)] == [("BOOKING_REQUEST_REJECTED", cancelled)] * 2
    assert verdicts[str(other)] == [("BOOKING_REQUEST_CONFIRMED", None)]
    assert await _holders(database, [slot]) == {str(slot): (str(other), 2)}
    async with database.connect() as connection:
        recorded = (await connection.execute(
            select(cancelled_bookings.c.booking_id, cancelled_bookings.c.availability_id)
            .where(cancelled_bookings.c.booking_id.in_([dead, other])))).all()  # fmt: skip
    assert [tuple(row) for row in recorded] == [(dead, slot)]
    await _wait_until_relayed(database, {str(slot)})
    events = [r for r in read_to_end(service.settings, topics.PROVIDER_AVAILABILITY)
              if r.key == str(slot)]  # fmt: skip
    assert [(e.event.type, e.event.data["availability"]["bookingReferenceId"])
            for e in events] == [("AVAILABILITY_CREATED", None),
                                 ("AVAILABILITY_UPDATED", str(other))]  # fmt: skip


async def test_requests_that_can_never_succeed_are_parked_in_the_dead_letter_topic(
    service: RunningService,
) -> None:
    slot = uuid.uuid4()
    wrong_type = Event(id=str(uuid.uuid4()), source=sources.CARE_PLAN, type="BOOKING_TELEPORT",
                       data=_request(uuid.uuid4(), slot).data, key=str(slot))  # fmt: skip
    wrong_payload = Event(id=str(uuid.uuid4()), source=sources.CARE_PLAN,
                          type=EventType.BOOKING_CREATION_REQUEST.value,
                          data={"id": "not-a-uuid"}, key=str(slot))  # fmt: skip
    # Marked, so that the contract audit at the end of the run knows they are wrong on purpose.
    await asyncio.to_thread(produce, service.settings, topics.BOOKING_REQUESTS,
                            [wrong_type, wrong_payload], [DELIBERATELY_INVALID])  # fmt: skip
    dead_letters = topics.dead_letter_topic(topics.BOOKING_REQUESTS)
    wanted = {wrong_type.id, wrong_payload.id}

    def parked(records: list[Received]) -> bool:
        return wanted <= {r.event.id for r in records}

    records = await asyncio.to_thread(read_until, service.settings, dead_letters, parked)
    reasons = {r.event.id: r.headers for r in records if r.event.id in wanted}
    assert reasons[wrong_type.id]["dlt-reason"] == b"permanent-failure"
    assert b"BOOKING_TELEPORT" in reasons[wrong_type.id]["dlt-exception-message"]
    assert reasons[wrong_payload.id]["dlt-reason"] == b"permanent-failure"
    assert reasons[wrong_payload.id]["dlt-exception"] == b"ValidationError"


def _structured_request(event: Event) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The same request in structured mode, which consumers must read too (contract 1)."""
    document = {"specversion": "1.0", "id": event.id, "source": event.source, "type": event.type,
                "datacontenttype": "application/json", "data": event.data}  # fmt: skip
    return ((event.key or "").encode(), json.dumps(document).encode(),
            [("content-type", b"application/cloudevents+json")])  # fmt: skip


def _produce_raw(service: RunningService, key: bytes, value: bytes,
                 headers: list[tuple[str, bytes]]) -> None:  # fmt: skip
    producer = Producer({"bootstrap.servers": service.settings.bootstrap_servers})
    producer.produce(topics.BOOKING_REQUESTS, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0
