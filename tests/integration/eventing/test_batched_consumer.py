"""The batched consumer on the real broker and database: the records of one poll are applied in
one transaction, a poison record among them is parked alone, a SIGKILL in the middle of a batch
leaves nothing behind and nothing twice, and per-key order holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from confluent_kafka import Producer

from contract.topics import dead_letter_topic
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, to_record
from eventing.consumer import ConsumerRunner, PermanentError
from eventing.consumer_types import RecordContext
from eventing.database import Connection
from eventing.inbox import Inbox, idempotent, idempotent_batch
from eventing.producer import AsyncProducer
from tests.support.database import IsolatedSchema, isolated_schema
from tests.support.kafka import read_to_end, unique_topic, wait_until_committed_to_end

pytestmark = pytest.mark.integration

PROCESS = Path(__file__).with_name("batch_consumer_process.py")
REPO = Path(__file__).resolve().parents[3]


def _produce(settings: DevstackSettings, topic: str, events: list[Event]) -> None:
    # Idempotence keeps each partition in the order of the calls: a plain producer may retry a
    # failed request after later ones succeeded and land its records behind them (seen once on a
    # loaded machine: a key's first 28 records behind its later ones).
    producer = Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True}
    )
    for event in events:
        record = to_record(event)
        producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.flush(10)


async def _until_committed(settings: DevstackSettings, group: str, topic: str) -> None:
    await asyncio.to_thread(wait_until_committed_to_end, settings, group, topic)


async def _consume_in_batches(
    settings: DevstackSettings,
    schema: IsolatedSchema,
    topic: str,
    apply: Callable[[Connection, Event], Awaitable[None]],
) -> list[int]:
    """A batched ConsumerRunner over ``topic`` until its group committed to the end; the sizes
    of the batches it applied."""
    batches: list[int] = []
    inbox = Inbox(schema.inbox, "effects")
    batch = idempotent_batch(schema.database, inbox, apply)

    async def counted(records: Sequence[tuple[Event, RecordContext]]) -> None:
        batches.append(len(records))
        await batch(records)

    producer = AsyncProducer({"bootstrap.servers": settings.bootstrap_servers})
    group = f"batched-{schema.name}"
    runner = ConsumerRunner(
        client_config={"bootstrap.servers": settings.bootstrap_servers},
        group_id=group, topics=[topic], producer=producer,
        handler=idempotent(schema.database, inbox, apply), batch_handler=counted,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await _until_committed(settings, group, topic)
    finally:
        stop.set()
        await task
        producer.close()
    return batches


async def _effects(schema: IsolatedSchema) -> dict[str, int]:
    async with schema.database.connection() as connection:
        rows = await connection.fetch(
            f'select event_id, count(*) as n from "{schema.name}".effects group by event_id'
        )
    return {row["event_id"]: row["n"] for row in rows}


def _events(count: int, keys: int = 7) -> list[Event]:
    return [
        Event.new(source="/test", type="STEP", data={"seq": n}, key=f"k{n % keys}")
        for n in range(count)
    ]


async def test_a_poison_record_in_a_batch_is_parked_alone_and_the_rest_applied_once(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "batch-poison", partitions=1)
    events = _events(40)
    poison = events[17]
    _produce(infrastructure, topic, events)
    async with isolated_schema(infrastructure, "batch_poison") as schema:

        async def apply(connection: Connection, event: Event) -> None:
            if event.id == poison.id:
                raise PermanentError("this record can never be applied")
            await connection.execute(
                f'insert into "{schema.name}".effects (event_id, applied) values ($1, 1)',
                event.id,
            )

        batches = await _consume_in_batches(infrastructure, schema, topic, apply)
        effects = await _effects(schema)

    assert max(batches) > 1, "the records were never applied as a batch"
    assert effects == {event.id: 1 for event in events if event.id != poison.id}
    parked = await asyncio.to_thread(read_to_end, infrastructure, dead_letter_topic(topic))
    assert [dict(record.headers())["ce_id"] for record in parked] == [poison.id.encode()]


def _start(settings: DevstackSettings, schema: IsolatedSchema, topic: str, group: str,
           signal_file: Path, *flags: str) -> subprocess.Popen[bytes]:  # fmt: skip
    return subprocess.Popen(
        [sys.executable, str(PROCESS), settings.sqlalchemy_url, schema.name,
         settings.bootstrap_servers, topic, group, str(signal_file), *flags],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def _wait_for(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


async def _kill_at(
    settings: DevstackSettings, schema: IsolatedSchema, topic: str, tmp_path: Path, flag: str
) -> tuple[list[str], dict[str, int]]:
    """Run the consumer process until it hangs at ``flag``'s point, SIGKILL it there; the event
    ids of the batch in hand and the effects visible right after the kill."""
    hanging = _start(settings, schema, topic, f"batch-{schema.name}", tmp_path / "hung", flag)
    in_hand = (await asyncio.to_thread(_wait_for, tmp_path / "hung")).split(",")
    os.kill(hanging.pid, signal.SIGKILL)
    hanging.wait()
    return in_hand, await _effects(schema)


async def _resume(
    settings: DevstackSettings, schema: IsolatedSchema, topic: str, tmp_path: Path
) -> dict[str, int]:
    """A new consumer process of the same group, until it committed the topic; the effects."""
    group = f"batch-{schema.name}"
    restarted = _start(settings, schema, topic, group, tmp_path / "second")
    try:
        await _until_committed(settings, group, topic)
    finally:
        restarted.kill()
        restarted.wait()
    return await _effects(schema)


async def test_sigkill_in_the_middle_of_a_batch_leaves_no_partial_effect_and_no_duplicate(
    infrastructure: DevstackSettings, tmp_path: Path
) -> None:
    topic = unique_topic(infrastructure, "batch-kill", partitions=1)
    events = _events(200)
    _produce(infrastructure, topic, events)
    async with isolated_schema(infrastructure, "batch_kill") as schema:
        in_hung_batch, visible = await _kill_at(
            infrastructure, schema, topic, tmp_path, "--hang-mid-batch"
        )
        assert in_hung_batch
        assert not set(in_hung_batch) & set(visible), "visible before its batch committed"
        assert await _resume(infrastructure, schema, topic, tmp_path) == {
            event.id: 1 for event in events
        }


async def test_sigkill_between_the_database_commit_and_the_offset_commit_applies_once(
    infrastructure: DevstackSettings, tmp_path: Path
) -> None:
    topic = unique_topic(infrastructure, "batch-kill-committed", partitions=1)
    events = _events(200)
    _produce(infrastructure, topic, events)
    async with isolated_schema(infrastructure, "batch_committed") as schema:
        committed, visible = await _kill_at(
            infrastructure, schema, topic, tmp_path, "--hang-after-commit"
        )
        assert set(committed) <= set(visible), "the kill must land after the database commit"
        # The redelivered batch found its events in the inbox: no effect twice.
        assert await _resume(infrastructure, schema, topic, tmp_path) == {
            event.id: 1 for event in events
        }


async def test_per_key_order_holds_when_records_are_applied_in_batches(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "batch-order", partitions=3)
    events = _events(600, keys=11)
    _produce(infrastructure, topic, events)
    applied: list[tuple[str, int]] = []
    async with isolated_schema(infrastructure, "batch_order") as schema:

        async def apply(_: Connection, event: Event) -> None:
            applied.append((event.key or "", int(event.data["seq"])))

        batches = await _consume_in_batches(infrastructure, schema, topic, apply)

    assert max(batches) > 1, "the records were never applied as a batch"
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, seq in applied:
        by_key[key].append(seq)
    assert sum(len(seqs) for seqs in by_key.values()) == 600
    # The guarantee is the partition's order, so that is what the applied order is held to
    # (it is also the order produced: the producer is idempotent).
    on_partition: dict[str, list[int]] = defaultdict(list)
    for record in await asyncio.to_thread(read_to_end, infrastructure, topic):
        on_partition[record.key().decode()].append(int(json.loads(record.value())["seq"]))
    for key, seqs in by_key.items():
        assert seqs == on_partition[key], f"{key} applied out of its partition's order"
        assert seqs == sorted(seqs), f"{key} stored out of the order produced"
