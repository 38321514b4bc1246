"""What ``bench/chaos.py`` checks once the load has ended: each guarantee against the stores
that hold it (Care Plan's and Provider Schedule's tables, DynamoDB, the insured topic).

Each check returns its violations as readable lines; no line means it holds. The ones that
depend on the asynchronous tail (visits, the insured topic, the outboxes) are re-read until
they hold or ``settle_seconds`` pass, so a slow tail is waited for, not reported.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from chaos_load import Attempt, Slot
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from clinic_operations.logic import VisitStatus
from clinic_operations.visits import list_visits
from contract import topics
from devstack.moto import aws_client
from devstack.settings import DevstackSettings

CONFIRMED = "CONFIRMED"
WAITING = "WAITING_FOR_CONFIRMATION"
EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    key: str | None
    slot: str
    status: str
    payment_mode: str
    encounter_type: str


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    violations: list[str]

    @property
    def holds(self) -> bool:
        return not self.violations


async def bookings_of(connection: asyncpg.Connection, slots: Sequence[Slot]) -> list[Booking]:
    rows = await connection.fetch(
        "select id::text, idempotency_key, provider_availability_id::text as slot, status,"
        " payment_mode, encounter_type from care_plan.bookings"
        " where provider_availability_id = any($1::uuid[])",
        [uuid.UUID(slot.id) for slot in slots],
    )
    return [
        Booking(r["id"], r["idempotency_key"], r["slot"], r["status"], r["payment_mode"],
                r["encounter_type"])
        for r in rows
    ]  # fmt: skip


async def settle(connection: asyncpg.Connection, slots: Sequence[Slot], timeout: float) -> None:
    """Wait until no booking of the run waits for its reply (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(b.status == WAITING for b in await bookings_of(connection, slots)):
            return
        await asyncio.sleep(0.5)


def one_booking_per_key(attempts: Sequence[Attempt], bookings: Sequence[Booking]) -> Outcome:
    per_key = Counter(b.key for b in bookings if b.key is not None)
    by_key = {b.key: b for b in bookings}
    violations = [f"key {key}: {count} bookings" for key, count in per_key.items() if count > 1]
    for attempt in attempts:
        booking = by_key.get(attempt.key)
        if attempt.booking_id is not None and (booking is None or booking.id != attempt.booking_id):
            violations.append(f"key {attempt.key}: answered {attempt.booking_id}, stored {booking}")
    return Outcome("one booking per Idempotency-Key", violations)


def none_waiting(bookings: Sequence[Booking]) -> Outcome:
    return Outcome(
        "none left WAITING_FOR_CONFIRMATION",
        [f"booking {b.id} still waiting" for b in bookings if b.status == WAITING],
    )


def none_expired(bookings: Sequence[Booking]) -> Outcome:
    """Every booking was taken on a free slot: an EXPIRED one means our own restarts cost a
    patient the slot (the expiry sweeper must not punish the platform's outage)."""
    return Outcome(
        "none EXPIRED",
        [f"booking {b.id} expired" for b in bookings if b.status == EXPIRED],
    )


async def one_confirmed_per_slot_held_by_the_provider(
    connection: asyncpg.Connection, slots: Sequence[Slot], bookings: Sequence[Booking]
) -> Outcome:
    confirmed: dict[str, list[str]] = {slot.id: [] for slot in slots}
    for booking in bookings:
        if booking.status == CONFIRMED:
            confirmed[booking.slot].append(booking.id)
    violations = [f"slot {s}: {len(ids)} confirmed" for s, ids in confirmed.items() if len(ids) > 1]
    held = {
        row["id"]: row["held"]
        for row in await connection.fetch(
            "select id::text, booking_reference_id::text as held"
            " from provider_schedule.availabilities where id = any($1::uuid[])",
            [uuid.UUID(slot.id) for slot in slots],
        )
    }
    for slot, ids in confirmed.items():
        expected = ids[0] if len(ids) == 1 else None
        if len(ids) <= 1 and held.get(slot) != expected:
            violations.append(f"slot {slot}: provider holds {held.get(slot)}, confirmed {expected}")
    return Outcome("at most one CONFIRMED per slot, the provider holds exactly those", violations)


def visits_match(
    settings: DevstackSettings, slots: Sequence[Slot], bookings: Sequence[Booking]
) -> Outcome:
    onsite = {slot.id for slot in slots if slot.onsite}
    dynamodb = aws_client(settings, "dynamodb")
    visits = {v.booking_id: v for v in list_visits(dynamodb, "clinic-visits")}  # type: ignore[arg-type]
    violations = []
    for booking in bookings:
        visit = visits.get(booking.id)
        wanted = booking.status == CONFIRMED and booking.slot in onsite
        if wanted and (visit is None or visit.status is not VisitStatus.CONFIRMED):
            violations.append(f"confirmed on-site booking {booking.id}: visit {visit}")
        elif not wanted and visit is not None:
            violations.append(f"{booking.status} booking {booking.id} has a {visit.status} visit")
    return Outcome(
        "a CONFIRMED visit for each confirmed on-site booking, none for others", violations
    )


def insured_once(settings: DevstackSettings, bookings: Sequence[Booking]) -> Outcome:
    seen = _insured_confirmations(settings)
    violations = []
    for booking in bookings:
        expected = int(booking.status == CONFIRMED and booking.payment_mode == "INSURANCE_PAY")
        if seen.get(booking.id, 0) != expected:
            violations.append(
                f"{booking.status} {booking.payment_mode} booking {booking.id}: "
                f"{seen.get(booking.id, 0)} BOOKING_CONFIRMED on the insured topic"
            )
    return Outcome(
        f"each confirmed insured booking on {topics.CAREPLAN_BOOKINGS_INSURED} once", violations
    )


def _insured_confirmations(settings: DevstackSettings) -> Counter[str]:
    """BOOKING_CONFIRMED records per booking id on the insured topic, as a read_committed
    consumer sees them (aborted transactions of a killed processor do not count)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"chaos-check-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        topic = topics.CAREPLAN_BOOKINGS_INSURED
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for partition in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        counts: Counter[str] = Counter()
        done: set[int] = {p for p, high in ends.items() if high == 0}
        deadline = time.monotonic() + 60
        while len(done) < len(ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                # read_committed stops short of the high watermark (transaction markers):
                # a partition is done once its position reaches the watermark.
                for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                    if tp.offset >= ends[tp.partition]:
                        done.add(tp.partition)
                continue
            headers = dict(message.headers() or [])
            if headers.get("ce_type") == b"BOOKING_CONFIRMED":
                counts[json.loads(message.value())["booking"]["id"]] += 1
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
        return counts
    finally:
        consumer.close()


async def outboxes_drained(connection: asyncpg.Connection) -> Outcome:
    violations = []
    for schema in ("care_plan", "provider_schedule"):
        left = await connection.fetchval(
            f"select count(*) from {schema}.outbox where published_at is null"
        )
        if left:
            violations.append(f"{schema}.outbox: {left} rows unpublished")
    return Outcome("every outbox drained", violations)


async def eventually(check: Callable[[], Awaitable[Outcome]], timeout: float) -> Outcome:
    """The check's outcome once it holds, or its last outcome after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = await check()
        if outcome.holds or time.monotonic() > deadline:
            return outcome
        await asyncio.sleep(1.0)


def confirmed_share(slots: Sequence[Slot], bookings: Sequence[Booking]) -> float:
    """Share of the raced free slots that ended with a CONFIRMED booking: each slot had two
    racers, one of which can win."""
    won = {b.slot for b in bookings if b.status == CONFIRMED}
    return len(won) / max(1, len(slots))


async def run_checks(
    settings: DevstackSettings,
    connection: asyncpg.Connection,
    slots: Sequence[Slot],
    attempts: Sequence[Attempt],
    *,
    settle_seconds: float,
) -> tuple[list[Outcome], list[Booking]]:
    await settle(connection, slots, settle_seconds)
    bookings = await bookings_of(connection, slots)

    async def visits() -> Outcome:
        return await asyncio.to_thread(visits_match, settings, slots, bookings)

    async def insured() -> Outcome:
        return await asyncio.to_thread(insured_once, settings, bookings)

    async def outboxes() -> Outcome:
        return await outboxes_drained(connection)

    async def held() -> Outcome:
        # An expired booking's slot is released by a cancellation that travels on: wait for it.
        return await one_confirmed_per_slot_held_by_the_provider(connection, slots, bookings)

    outcomes = [
        one_booking_per_key(attempts, bookings),
        none_waiting(bookings),
        none_expired(bookings),
        await eventually(held, settle_seconds),
        await eventually(visits, settle_seconds),
        await eventually(insured, settle_seconds),
        await eventually(outboxes, settle_seconds),
    ]
    return outcomes, bookings
