"""The sink dies at the exact points that matter, on the real broker and moto's EventBridge:

- before PutEvents: nothing was committed, so the next sink forwards the record (committing
  before forwarding would lose it);
- after PutEvents, before the offset commit: the next sink forwards it again; EventBridge sees
  it twice, with the same Kafka coordinates in the detail, which is how consumers downstream
  tell the copies apart (Clinic Operations writes one visit per booking id, the notification
  carries the booking id)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
import pytest
from confluent_kafka import Producer

from devstack.settings import DevstackSettings
from eventing.cloudevents import to_record
from eventing.producer import AsyncProducer
from tests.integration.eventbridge_sink.test_sink import (
    _booking_event,
    _notification_rule_for,
    _queue_name,
    sink_for,
)
from tests.support.kafka import unique_topic, wait_until_committed_to_end

pytestmark = pytest.mark.integration

PutEvents = Callable[[list[Any]], Awaitable[dict[str, Any]]]


class SinkDiedError(BaseException):
    """Stands for the process dying: nothing after this point of the sink runs."""


async def _run_sink(settings: DevstackSettings, topic: str, group: str, put: PutEvents) -> None:
    dlt = AsyncProducer({"bootstrap.servers": settings.bootstrap_servers})
    sink = sink_for(settings, topic, group, put, dlt)
    stop = asyncio.Event()
    try:
        await asyncio.wait_for(sink.run(stop), timeout=60)
    finally:
        dlt.close()


async def _forward_until_committed(settings: DevstackSettings, topic: str, group: str,
                                   put: PutEvents) -> None:  # fmt: skip
    task = asyncio.create_task(_run_sink(settings, topic, group, put))
    try:
        await asyncio.to_thread(wait_until_committed_to_end, settings, group, topic)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _notifications(sqs: Any, queue_url: str, booking_id: str) -> list[dict[str, Any]]:
    """Every notification for the booking on the queue (received until it stays quiet)."""
    found: list[dict[str, Any]] = []
    quiet_until = time.monotonic() + 3
    while time.monotonic() < quiet_until:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in response.get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("data", {}).get("bookingId") == booking_id:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                found.append(body)
                quiet_until = time.monotonic() + 3
    return found


async def _scenario(
    infrastructure: DevstackSettings, *, dies_after_put: bool
) -> list[dict[str, Any]]:
    topic = unique_topic(infrastructure, "sink-crash", partitions=1)
    booking_id = str(uuid.uuid4())
    record = to_record(_booking_event(booking_id, "VIRTUAL"))
    producer = Producer({"bootstrap.servers": infrastructure.bootstrap_servers})
    producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.flush(10)
    session = boto3.Session(region_name=infrastructure.aws_region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    events = session.client("events", endpoint_url=infrastructure.aws_endpoint)
    sqs = session.client("sqs", endpoint_url=infrastructure.aws_endpoint)
    rule = _notification_rule_for(events, sqs, topic)
    queue_url = sqs.get_queue_url(QueueName=_queue_name(topic))["QueueUrl"]

    async def put_events(entries: list[Any]) -> dict[str, Any]:
        return dict(await asyncio.to_thread(events.put_events, Entries=entries))

    async def dies(entries: list[Any]) -> dict[str, Any]:
        if dies_after_put:
            await put_events(entries)
        raise SinkDiedError

    group = f"sink-crash-{topic}"
    try:
        with pytest.raises(SinkDiedError):
            await _run_sink(infrastructure, topic, group, dies)
        await _forward_until_committed(infrastructure, topic, group, put_events)
        return await asyncio.to_thread(_notifications, sqs, queue_url, booking_id)
    finally:
        events.remove_targets(Rule=rule, EventBusName="care-plan-events", Ids=["notify"])
        events.delete_rule(Name=rule, EventBusName="care-plan-events")
        sqs.delete_queue(QueueUrl=queue_url)


async def test_a_sink_that_dies_before_put_events_loses_nothing(
    infrastructure: DevstackSettings,
) -> None:
    notifications = await _scenario(infrastructure, dies_after_put=False)
    assert len(notifications) == 1


async def test_a_sink_that_dies_after_put_events_forwards_the_booking_again(
    infrastructure: DevstackSettings,
) -> None:
    notifications = await _scenario(infrastructure, dies_after_put=True)
    assert len(notifications) == 2, "at least once: the uncommitted record is forwarded again"
    assert notifications[0]["data"] == notifications[1]["data"]
