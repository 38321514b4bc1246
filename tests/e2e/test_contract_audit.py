"""Every event that the test run put on a contract topic validates against the contract's JSON
Schema (docs/schemas), and carries the CloudEvents headers the contract requires.

It runs last (see ``pytest_collection_modifyitems`` in tests/conftest.py), after the
integration and end-to-end tests produced their events on the session's broker.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from contract.schemas import TOPIC_PAYLOADS, schema_file_name
from devstack.settings import DevstackSettings

pytestmark = [pytest.mark.e2e, pytest.mark.contract_audit]
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
REQUIRED_HEADERS = {"ce_specversion", "ce_id", "ce_source", "ce_type"}


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


@pytest.mark.parametrize("topic", sorted(TOPIC_PAYLOADS))
def test_every_event_produced_in_the_run_fits_the_contract(
    infrastructure: DevstackSettings, topic: str
) -> None:
    schema = json.loads((SCHEMAS / schema_file_name(topic)).read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    problems: list[str] = []
    types: Counter[str] = Counter()
    for record in _everything_on(infrastructure, topic):
        where = f"{topic}[{record.partition()}]@{record.offset()}"
        headers = dict(record.headers() or [])
        missing = REQUIRED_HEADERS - headers.keys()
        if missing:
            problems.append(f"{where}: missing headers {sorted(missing)}")
            continue
        if (
            headers["ce_specversion"] != b"1.0"
            or headers.get("content-type") != b"application/json"
        ):
            problems.append(f"{where}: not binary-mode CloudEvents 1.0 JSON")
        types[headers["ce_type"].decode()] += 1
        try:
            data = json.loads(record.value())
        except ValueError as error:
            problems.append(f"{where}: value is not JSON: {error}")
            continue
        problems += [
            f"{where} {headers['ce_type'].decode()}: {e.message} at "
            f"{'/'.join(map(str, e.absolute_path))}"
            for e in validator.iter_errors(data)
        ]

    assert problems == [], "\n".join(problems[:20])
    assert types, f"no event on {topic}: the audit runs with the tests that produce them"
    print(f"{topic}: {sum(types.values())} events validated {dict(types)}")
