"""The faster SQS code of devstack.moto_server gives what moto's own code gives."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import moto.backends
import moto.core.utils
import pytest
from moto import mock_aws
from moto.sqs.models import SQSBackend, sqs_backends

from devstack.moto_server import QueueAttributes, epoch_milliseconds, epoch_seconds, listed_once

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@pytest.fixture
def backend() -> Iterator[SQSBackend]:
    with mock_aws():
        yield sqs_backends[ACCOUNT][REGION]


def lazy(queue: Any) -> QueueAttributes:
    return QueueAttributes(queue, moto.core.utils.camelcase_to_underscores)


def test_a_standard_queue_with_messages_has_moto_s_attributes(backend: SQSBackend) -> None:
    dlq = backend.create_queue("dead")
    queue = backend.create_queue(
        "busy",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": []}),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": 3}),
        VisibilityTimeout="30",
    )
    for index in range(5):
        backend.send_message("busy", f"message {index}", delay_seconds=60 if index == 4 else 0)
    backend.receive_message("busy", count=2, wait_seconds_timeout=0, visibility_timeout=30)

    attributes = lazy(queue)

    assert dict(attributes) == queue.attributes
    assert attributes["ApproximateNumberOfMessages"] == 2
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == 2
    assert attributes["ApproximateNumberOfMessagesDelayed"] == 1
    assert attributes["RedrivePolicy"] == queue.attributes["RedrivePolicy"]


def test_a_fifo_queue_renders_booleans_as_moto_does(backend: SQSBackend) -> None:
    queue = backend.create_queue("ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true")

    attributes = lazy(queue)

    assert dict(attributes) == queue.attributes
    assert attributes.get("ContentBasedDeduplication") == "true"
    assert attributes["FifoQueue"] == "true"


def test_an_absent_attribute_is_absent(backend: SQSBackend) -> None:
    queue = backend.create_queue("plain")
    attributes = lazy(queue)

    assert dict(attributes) == queue.attributes
    assert attributes.get("ContentBasedDeduplication") is None
    assert attributes["RedrivePolicy"] is None
    with pytest.raises(KeyError):
        attributes["FifoQueue"]


def test_epoch_time_agrees_with_moto_s() -> None:
    before = moto.core.utils.unix_time()
    now = epoch_seconds(moto.core.utils.unix_time)()
    assert before <= now <= moto.core.utils.unix_time()
    assert abs(epoch_milliseconds(moto.core.utils.unix_time_millis)() - time.time() * 1000) < 1000


def test_a_given_datetime_is_left_to_moto() -> None:
    moment = datetime(2027, 1, 1, 12, 30, tzinfo=UTC).replace(tzinfo=None)

    assert epoch_seconds(moto.core.utils.unix_time)(moment) == 1798806600.0
    assert epoch_milliseconds(moto.core.utils.unix_time_millis)(moment) == 1798806600000.0


def test_moto_s_modules_are_listed_once_with_the_same_names() -> None:
    calls: list[int] = []

    def listing() -> Iterator[str]:
        calls.append(1)
        yield from moto.backends.list_of_moto_modules()

    listed = listed_once(listing)

    assert listed() == tuple(moto.backends.list_of_moto_modules())
    assert "sqs" in listed()
    assert len(calls) == 1
