"""Several pollers on one queue (``LAMBDA_POLLERS``), against the session's moto server: they
invoke the function at the same time and every message is handled once and deleted."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from devstack.aws_bootstrap import AwsClients
from devstack.lambda_runner import SqsEventSourceMapping

pytestmark = pytest.mark.integration

POLLERS = 3
MESSAGES = 9
DEADLINE_SECONDS = 30.0


def test_pollers_invoke_at_once_and_handle_each_message_once(aws_clients: AwsClients) -> None:
    # A queue of its own: nothing else polls it, and what is left on it is this test's.
    queue_url = aws_clients.sqs.create_queue(QueueName=f"pollers-{uuid.uuid4()}")["QueueUrl"]
    sent = {
        aws_clients.sqs.send_message(QueueUrl=queue_url, MessageBody=f"message {i}")["MessageId"]
        for i in range(MESSAGES)
    }
    # The first invocation of every poller waits here for the others: only pollers that run at
    # the same time get through; sequential ones break the barrier and fail their batch.
    all_at_once = threading.Barrier(POLLERS, timeout=DEADLINE_SECONDS / 3)
    handled: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    waited: set[str] = set()

    def handler(event: dict[str, Any], _context: Any) -> None:
        poller = threading.current_thread().name
        if poller not in waited:
            waited.add(poller)
            all_at_once.wait()
        with lock:
            handled.extend(record["messageId"] for record in event["Records"])
            if len(handled) >= MESSAGES:
                stop.set()

    mapping = SqsEventSourceMapping.for_queue(
        aws_clients.sqs,
        handler,
        queue_url.rsplit("/", 1)[1],
        batch_size=1,
        wait_seconds=1,
        retry_delay_seconds=0,
    )
    watchdog = threading.Timer(DEADLINE_SECONDS, stop.set)
    watchdog.start()
    try:
        mapping.run_concurrently(POLLERS, stop)
    finally:
        watchdog.cancel()

    assert not all_at_once.broken
    assert sorted(handled) == sorted(sent)
    attributes = aws_clients.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_no_poller_is_refused(aws_clients: AwsClients) -> None:
    mapping = SqsEventSourceMapping(
        aws_clients.sqs, lambda _event, _context: None, queue_url="", queue_arn="", region=""
    )
    with pytest.raises(ValueError, match="at least 1"):
        mapping.run_concurrently(0, threading.Event())
