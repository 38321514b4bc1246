"""Helpers for Care Plan tests: a fresh database, the provider side played through Kafka, a tap
that records what the service publishes, and polling with deadlines."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from care_plan.migrate import upgrade
from contract import sources, topics
from contract.events import AvailabilityData, AvailabilityEvent, EncounterType, ProviderData
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, MalformedEventError, from_record, to_record

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 15.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """The first truthy result of ``probe``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(interval)


# --- databases -------------------------------------------------------------------------


def _admin_dsn(settings: DevstackSettings) -> str:
    url = settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return url.rpartition("/")[0] + "/postgres"


async def create_database(settings: DevstackSettings, prefix: str) -> str:
    """A new database with the care_plan schema migrated; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(_admin_dsn(settings))
    try:
        await connection.execute(f'create database "{name}"')
    finally:
        await connection.close()
    url = settings.sqlalchemy_url.rpartition("/")[0] + f"/{name}"
    await asyncio.to_thread(upgrade, url)
    return url


async def drop_database(settings: DevstackSettings, url: str) -> None:
    name = url.rpartition("/")[2]
    connection = await asyncpg.connect(_admin_dsn(settings))
    try:
        await connection.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await connection.close()


# --- the provider side, played through Kafka --------------------------------------------


@dataclass
class FakeProvider:
    """Publishes what Provider Schedule would: availability events and booking replies."""

    bootstrap_servers: str
    # Where it publishes: the contract's topics unless a test gives the service its own.
    availability_topic: str = topics.PROVIDER_AVAILABILITY
    replies_topic: str = topics.BOOKING_REPLIES

    def __post_init__(self) -> None:
        self._producer = Producer(
            {"bootstrap.servers": self.bootstrap_servers, "linger.ms": 0, "log_level": 0}
        )

    def publish(self, topic: str, event: Event, *, key: str | None = None) -> None:
        record = to_record(event)
        self._producer.produce(
            topic,
            key=(key.encode() if key is not None else record.key),
            value=record.value,
            headers=record.headers,
        )
        if self._producer.flush(10):
            raise AssertionError("record not delivered")

    def publish_raw(
        self, topic: str, *, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self._producer.produce(topic, key=key, value=value, headers=headers)
        self._producer.flush(10)

    def availability(
        self,
        kind: str,
        slot: Slot,
        *,
        version: int | None,
        booking_reference_id: UUID | None = None,
        time: datetime | None = None,
        key: str | None = None,
        event_id: str | None = None,
        topic: str | None = None,
    ) -> Event:
        """Publish an ``AVAILABILITY_*`` event for ``slot``; returns it (its id is ``ce_id``)."""
        event = availability_event(
            kind,
            slot,
            version=version,
            booking_reference_id=booking_reference_id,
            time=time,
            event_id=event_id,
        )
        self.publish(topic or self.availability_topic, event, key=key)
        return event

    def reply(
        self,
        booking_id: UUID | str,
        availability_id: UUID | str,
        *,
        confirmed: bool,
        reason: str | None = None,
    ) -> Event:
        event = reply_event(booking_id, availability_id, confirmed=confirmed, reason=reason)
        self.publish(self.replies_topic, event)
        return event


def availability_event(
    kind: str,
    slot: Slot,
    *,
    version: int | None,
    booking_reference_id: UUID | None = None,
    time: datetime | None = None,
    event_id: str | None = None,
    traceparent: str | None = None,
) -> Event:
    """An ``AVAILABILITY_*`` event for ``slot`` as Provider Schedule sends it."""
    ident = event_id or str(uuid.uuid4())
    payload = AvailabilityEvent(
        id=uuid.UUID(ident),
        provider=ProviderData(
            id=slot.provider_id,
            first_name=slot.first_name,
            last_name=slot.last_name,
            speciality=slot.speciality,
            gender=slot.gender,
        ),
        availability=AvailabilityData(
            id=slot.id,
            from_date=slot.from_date,
            to_date=slot.to_date,
            encounter_type=slot.encounter_type,
            booking_reference_id=booking_reference_id,
            version=version,
        ),
    )
    return Event(
        id=ident,
        source=sources.PROVIDER_SCHEDULE,
        type=f"AVAILABILITY_{kind}",
        data=payload.to_json_dict(),
        key=str(slot.id),
        subject=str(slot.id),
        time=time or datetime.now(UTC),
        traceparent=traceparent,
    )


def new_traceparent() -> str:
    """A sampled W3C traceparent of a new trace, as an upstream span would send it."""
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


def reply_event(
    booking_id: UUID | str,
    availability_id: UUID | str,
    *,
    confirmed: bool,
    reason: str | None = None,
    traceparent: str | None = None,
) -> Event:
    """A ``BOOKING_REQUEST_CONFIRMED`` or ``..._REJECTED`` as Provider Schedule sends it."""
    data: dict[str, Any] = {"bookingId": str(booking_id), "availabilityId": str(availability_id)}
    if reason is not None:
        data["reason"] = reason
    kind = "BOOKING_REQUEST_CONFIRMED" if confirmed else "BOOKING_REQUEST_REJECTED"
    return Event.new(
        source=sources.PROVIDER_SCHEDULE,
        type=kind,
        data=data,
        key=str(booking_id),
        traceparent=traceparent,
    )


@dataclass(frozen=True)
class Slot:
    id: UUID
    provider_id: UUID
    first_name: str
    last_name: str
    speciality: str
    gender: str
    from_date: datetime
    to_date: datetime
    encounter_type: EncounterType


def new_slot(
    *,
    speciality: str | None = None,
    provider_id: UUID | None = None,
    gender: str = "MALE",
    encounter_type: EncounterType = EncounterType.ONSITE,
    starts_in: timedelta = timedelta(days=7),
    minutes: int = 30,
) -> Slot:
    start = (datetime(2030, 1, 1, 9, tzinfo=UTC) + starts_in).replace(microsecond=0)
    return Slot(
        id=uuid.uuid4(),
        provider_id=provider_id or uuid.uuid4(),
        first_name="John",
        last_name="Doe",
        speciality=speciality or f"Speciality-{uuid.uuid4().hex[:8]}",
        gender=gender,
        from_date=start,
        to_date=start + timedelta(minutes=minutes),
        encounter_type=encounter_type,
    )


# --- what the service publishes ----------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    topic: str
    partition: int
    offset: int
    key: str | None
    event: Event


class KafkaTap:
    """Reads topics from their beginning in a thread and keeps every CloudEvent it sees."""

    def __init__(self, bootstrap_servers: str, names: Iterable[str]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"tap-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        self._names = list(names)
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-tap", daemon=True)

    def start(self) -> KafkaTap:
        # Topics created a moment ago may not be in the broker's metadata yet (a fresh broker).
        deadline = time.monotonic() + 30
        metadata = self._consumer.list_topics(timeout=10)
        while set(self._names) - set(metadata.topics) and time.monotonic() < deadline:
            time.sleep(0.2)
            metadata = self._consumer.list_topics(timeout=10)
        self._consumer.assign(
            [
                TopicPartition(name, p, OFFSET_BEGINNING)
                for name in self._names
                for p in metadata.topics[name].partitions
            ]
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, 0.1):
                if message.error():
                    continue
                try:
                    event = from_record(message.key(), message.value(), message.headers())
                except MalformedEventError:
                    continue
                key = message.key().decode() if message.key() is not None else None
                with self._lock:
                    self._seen.append(
                        Seen(message.topic(), message.partition(), message.offset(), key, event)
                    )

    def records(self, topic: str, predicate: Callable[[Seen], bool] = lambda _: True) -> list[Seen]:
        with self._lock:
            return [seen for seen in self._seen if seen.topic == topic and predicate(seen)]

    async def wait_for(
        self,
        topic: str,
        predicate: Callable[[Seen], bool],
        *,
        count: int = 1,
        timeout: float = 15.0,
    ) -> list[Seen]:
        async def probe() -> list[Seen] | None:
            found = self.records(topic, predicate)
            return found if len(found) >= count else None

        return await eventually(probe, timeout=timeout, what=f"{count} record(s) on {topic}")


def about_booking(booking_id: UUID | str, *types: str) -> Callable[[Seen], bool]:
    """Records whose payload concerns ``booking_id`` (requests, replies, booking events)."""
    wanted = str(booking_id)

    def match(seen: Seen) -> bool:
        data = seen.event.data
        ident = data.get("booking", {}).get("id") or data.get("bookingId") or data.get("id")
        return ident == wanted and (not types or seen.event.type in types)

    return match


def for_availability(availability_id: UUID | str, *types: str) -> Callable[[Seen], bool]:
    wanted = str(availability_id)

    def match(seen: Seen) -> bool:
        data = seen.event.data
        ident = data.get("providerAvailabilityId") or data.get("availability", {}).get("id")
        return ident == wanted and (not types or seen.event.type in types)

    return match


IDENTITY_PATIENT = {
    "firstName": "Ann",
    "lastName": "Lee",
    "gender": "FEMALE",
    "dateOfBirth": "1990-01-02",
}


async def register_as_operator(client: httpx.AsyncClient, token_headers: dict[str, str]) -> str:
    """A patient registered with an operator's token (only operators register): its id."""
    response = await client.post("/patients", json=IDENTITY_PATIENT, headers=token_headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
