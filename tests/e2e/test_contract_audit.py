"""Every record that the test run put on a contract topic is a CloudEvent (binary mode, or the
structured mode consumers also read) whose data validates against the contract's JSON Schema
(docs/schemas). Records a test marks ``DELIBERATELY_INVALID`` (poison to show the DLT) are the
only ones skipped.

It runs last (see ``pytest_collection_modifyitems`` in tests/conftest.py), after the
integration and end-to-end tests produced their events on the session's broker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from contract import topics
from contract.schemas import TOPIC_PAYLOADS, schema_file_name
from devstack.settings import DevstackSettings
from eventing.cloudevents import MalformedEventError, from_record
from tests.e2e.conftest import Saga
from tests.integration.care_plan.support import eventually
from tests.support.kafka import DELIBERATELY_INVALID

pytestmark = [pytest.mark.e2e, pytest.mark.contract_audit]
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _everything_on(settings: DevstackSettings, topic: str) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": "audit",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        assignments = []
        for partition in partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, partition))
            if high > low:
                ends[partition] = high
                assignments.append(TopicPartition(topic, partition, low))
        consumer.assign(assignments)
        records = []
        deadline = time.monotonic() + 120
        # Positions, not message offsets, tell when a partition is read to its end: a
        # transactional producer (the Insurance Processor) leaves commit markers that take
        # offsets but are never delivered as messages.
        while ends and time.monotonic() < deadline:
            records += [m for m in consumer.consume(1000, 1.0) if not m.error()]
            for position in consumer.position([TopicPartition(topic, p) for p in list(ends)]):
                if position.offset >= ends[position.partition]:
                    ends.pop(position.partition)
        assert not ends, f"{topic}: partitions {sorted(ends)} not read to their end"
        return records
    finally:
        consumer.close()


def _watermarks(consumer: Consumer, partition: TopicPartition) -> tuple[int, int]:
    # Right after the broker started, a partition may not have its leader yet.
    deadline = time.monotonic() + 30
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=10)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
async def one_story_at_least(saga: Saga) -> None:
    """Run alone, the audit makes the events it audits: an insured patient books a slot, the
    booking is confirmed and cancelled (every contract topic gets records). In the whole run
    it adds one booking to what the other tests produced."""
    # The Insurance Processor writes the insured topic; up already, or started now.
    await asyncio.to_thread(saga.launcher.up, ["insurance-processor"])
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patient = await saga.patient()
    booking = (await saga.book(patient, availability["id"])).json()
    await saga.until_status(patient, booking["id"], "CONFIRMED")
    cancelled = await saga.care_plan.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert cancelled.status_code == 204, cancelled.text
    await eventually(
        lambda: _insured(saga.settings, booking["id"]), timeout=60, what="the insured event"
    )


async def _insured(settings: DevstackSettings, booking_id: str) -> bool:
    records = await asyncio.to_thread(_everything_on, settings, topics.CAREPLAN_BOOKINGS_INSURED)
    return any(booking_id.encode() in (record.value() or b"") for record in records)


@pytest.mark.parametrize("topic", sorted(TOPIC_PAYLOADS))
def test_every_event_produced_in_the_run_fits_the_contract(
    infrastructure: DevstackSettings, topic: str, one_story_at_least: None
) -> None:
    schema = json.loads((SCHEMAS / schema_file_name(topic)).read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    problems: list[str] = []
    types: Counter[str] = Counter()
    for record in _everything_on(infrastructure, topic):
        where = f"{topic}[{record.partition()}]@{record.offset()}"
        headers = record.headers() or []
        if DELIBERATELY_INVALID in headers:
            continue
        try:
            event = from_record(record.key(), record.value(), headers)
        except MalformedEventError as error:
            problems.append(f"{where}: not a CloudEvent: {error}")
            continue
        binary = dict(headers).get("ce_specversion") is not None
        if binary and dict(headers).get("content-type") != b"application/json":
            problems.append(f"{where}: binary mode without content-type application/json")
        types[event.type] += 1
        problems += [
            f"{where} {event.type}: {e.message} at {'/'.join(map(str, e.absolute_path))}"
            for e in validator.iter_errors(event.data)
        ]

    assert problems == [], "\n".join(problems[:20])
    assert types, f"no event on {topic}: the audit runs with the tests that produce them"
    print(f"{topic}: {sum(types.values())} events validated {dict(types)}")
