"""The sink against the real broker and the launcher's moto: records become EventBridge events
that the shipped rules route to SQS; a record that cannot be an event is parked; offsets are
committed once everything is settled."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import boto3
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from contract.topics import dead_letter_topic
from devstack.aws_bootstrap import load_aws_resources
from devstack.settings import DevstackSettings
from eventbridge_sink.forwarder import Forwarder, ForwarderOptions, PutEvents
from eventbridge_sink.sink import KafkaToEventBridge
from eventing.cloudevents import Event, to_record
from eventing.producer import AsyncProducer
from tests.support.kafka import read_all, read_to_end, unique_topic, wait_until_committed_to_end

pytestmark = pytest.mark.integration


NOTIFICATION_RULE = "all-confirmed-care-plan-events"


def _booking_event(booking_id: str, encounter: str) -> Event:
    return Event.new(
        source="/care-plan",
        type="BOOKING_CONFIRMED",
        key=booking_id,
        data={
            "booking": {
                "id": booking_id,
                "providerAvailabilityId": str(uuid.uuid4()),
                "patientId": "p-1",
                "status": "CONFIRMED",
                "paymentMode": "SELF_PAY",
            },
            "patient": {
                "id": "p-1",
                "firstName": "Ada",
                "lastName": "L",
                "gender": "FEMALE",
                "dateOfBirth": "1990-01-01",
            },
            "encounterType": encounter,
            "slot": {
                "fromDate": "2026-12-01T09:00:00+00:00",
                "toDate": "2026-12-01T09:30:00+00:00",
                "providerId": "pr-1",
                "speciality": "Dentist",
            },
        },
    )


def sink_for(
    settings: DevstackSettings, topic: str, group: str, put_events: PutEvents, dlt: AsyncProducer
) -> KafkaToEventBridge:
    """The sink as bootstrap builds it, on the test's topic, group and PutEvents."""
    return KafkaToEventBridge(
        client_config={"bootstrap.servers": settings.bootstrap_servers},
        group_id=group,
        topics=[topic],
        forwarder=Forwarder(
            put_events,
            ForwarderOptions(connector_id="care-plan-sink", event_bus_name="care-plan-events"),
        ),
        producer=dlt,
    )


async def test_records_reach_the_bus_and_the_rules_route_them(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "sink", partitions=2)
    virtual_id, poison_offset_marker = str(uuid.uuid4()), b"{definitely not json"
    producer = Producer({"bootstrap.servers": infrastructure.bootstrap_servers})
    for event in (_booking_event(virtual_id, "VIRTUAL"),):
        record = to_record(event)
        producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.produce(topic, key=b"poison", value=poison_offset_marker)
    producer.flush(10)

    session = boto3.Session(
        region_name=infrastructure.aws_region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    events = session.client("events", endpoint_url=infrastructure.aws_endpoint)
    sqs = session.client("sqs", endpoint_url=infrastructure.aws_endpoint)
    rule = _notification_rule_for(events, sqs, topic)

    async def put_events(entries: list[Any]) -> dict[str, Any]:
        return dict(await asyncio.to_thread(events.put_events, Entries=entries))

    dlt_producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    group = f"sink-{topic}"
    sink = sink_for(infrastructure, topic, group, put_events, dlt_producer)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        queue_url = sqs.get_queue_url(QueueName=_queue_name(topic))["QueueUrl"]
        notification = await asyncio.to_thread(_await_notification, sqs, queue_url, virtual_id)
        # The sink commits past a record once it is settled (forwarded or parked).
        await asyncio.to_thread(wait_until_committed_to_end, infrastructure, group, topic)
        parked = await asyncio.to_thread(read_to_end, infrastructure, dead_letter_topic(topic))
    finally:
        stop.set()
        await task
        dlt_producer.close()
        events.remove_targets(Rule=rule, EventBusName="care-plan-events", Ids=["notify"])
        events.delete_rule(Name=rule, EventBusName="care-plan-events")
        sqs.delete_queue(QueueUrl=queue_url)

    assert notification["source"] == "com.providerschedule"
    assert notification["event-type"] == "Notification"
    assert notification["data"]["patientId"] == "p-1"
    assert notification["data"]["bookingId"] == virtual_id
    assert notification["data"]["status"] == "CONFIRMED"
    assert [m.value() for m in parked] == [poison_offset_marker]
    assert dict(parked[0].headers())["dlt-reason"] == b"malformed"
    assert _committed_everything(infrastructure, group, topic)


async def test_an_event_eventbridge_cannot_take_is_parked_and_committed(
    infrastructure: DevstackSettings,
) -> None:
    """A CloudEvent over PutEvents' 256 KB limit passes the consumer runner (it is a valid
    event) and is refused by the forwarder: the sink parks it itself, then commits."""
    topic = unique_topic(infrastructure, "sink-oversized", partitions=1)
    oversized = _booking_event(str(uuid.uuid4()), "VIRTUAL")
    oversized.data["padding"] = "x" * 300_000
    record = to_record(oversized)
    producer = Producer({"bootstrap.servers": infrastructure.bootstrap_servers})
    producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.flush(10)

    async def put_events(entries: list[Any]) -> dict[str, Any]:
        raise AssertionError("an oversized entry must never be sent")

    dlt_producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    group = f"sink-{topic}"
    sink = sink_for(infrastructure, topic, group, put_events, dlt_producer)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        parked = await asyncio.to_thread(
            read_all, infrastructure, dead_letter_topic(topic), expect=1
        )
        await asyncio.to_thread(wait_until_committed_to_end, infrastructure, group, topic)
    finally:
        stop.set()
        await task
        dlt_producer.close()

    assert [m.value() for m in parked] == [record.value]
    headers = dict(parked[0].headers())
    assert headers["dlt-reason"] == b"malformed"
    assert b"over the limit" in headers["dlt-exception-message"]


def _queue_name(topic: str) -> str:
    """SQS names allow letters, digits, ``-`` and ``_``: the topic's dots become ``-``."""
    return f"notifications-{topic.replace('.', '-')}"[:80]


def _notification_rule_for(events: Any, sqs: Any, topic: str) -> str:
    """The platform's notification rule as deployed, but for this test's own topic (the real
    one matches careplan.bookings only): the pattern and the input transformer under test."""
    [deployed] = [r for r in load_aws_resources().rules if r.name == NOTIFICATION_RULE]
    pattern = {**deployed.event_pattern}
    pattern["detail"] = {**pattern["detail"], "topic": [topic]}
    [target] = deployed.targets
    assert target.input_transformer is not None
    # A queue of this test's own: the platform's confirmed queue has a consumer (the Patient
    # Notifications runner, when the end-to-end tests started it) that would take the message.
    queue_url = sqs.create_queue(QueueName=_queue_name(topic))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    name = f"{NOTIFICATION_RULE}-{topic}"[:64]
    events.put_rule(Name=name, EventBusName=deployed.event_bus_name,
                    EventPattern=json.dumps(pattern), State="ENABLED")  # fmt: skip
    events.put_targets(Rule=name, EventBusName=deployed.event_bus_name, Targets=[{
        "Id": "notify", "Arn": queue_arn,
        "InputTransformer": {
            "InputPathsMap": dict(target.input_transformer.input_paths_map),
            "InputTemplate": target.input_transformer.input_template,
        },
    }])  # fmt: skip
    return name


def _await_notification(sqs: Any, queue_url: str, booking_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in response.get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("data", {}).get("bookingId") == booking_id:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return dict(body)
    raise AssertionError(f"no notification for {booking_id} on the confirmed queue")


def _committed_everything(settings: DevstackSettings, group: str, topic: str) -> bool:
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": group, "log_level": 0}
    )
    try:
        partitions = [TopicPartition(topic, p) for p in (0, 1)]
        committed = consumer.committed(partitions, timeout=10)
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
        return [tp.offset if tp.offset >= 0 else 0 for tp in committed] == ends
    finally:
        consumer.close()
