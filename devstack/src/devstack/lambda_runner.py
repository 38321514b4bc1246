"""A local stand-in for Lambda's SQS event source mapping, running one function (Clinic Operations,
Patient Notifications).

It does what the mapping does with ``FunctionResponseTypes: [ReportBatchItemFailures]``: long
polls the queue, hands the handler a batch in Lambda's exact SQS event shape, deletes the
messages that succeeded and leaves the failed ones on the queue, so that SQS redelivers them
and, after ``maxReceiveCount`` receives, its redrive policy moves them to the dead-letter queue.

Environment: ``LAMBDA_QUEUE_NAME`` or ``ONSITE_QUEUE_NAME`` (default
``onsite-care-plan-events-queue``), ``LAMBDA_HANDLER`` (default
``clinic_operations.handler.handler``), ``LAMBDA_FUNCTION_NAME`` (default
``clinic-operations``, for the context's ARN), ``LAMBDA_BATCH_SIZE``
(1-10, default 10), ``LAMBDA_RETRY_DELAY_SECONDS`` (unset: a failed message waits out the
queue's visibility timeout, as on Lambda; set: it becomes visible again after that many
seconds, for a faster local loop), ``SQS_WAIT_SECONDS`` (long poll, default 5, also the longest
SIGTERM waits), ``LAMBDA_POLLERS`` (concurrent pollers, each invoking the function with its own
batches, default 5: Lambda starts polling a standard queue with five), plus ``AWS_ENDPOINT_URL``
and ``AWS_REGION`` read by boto3.

Run it with ``python -m devstack.lambda_runner``.
"""

from __future__ import annotations

import base64
import importlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]

DEFAULT_QUEUE_NAME = "onsite-care-plan-events-queue"
DEFAULT_HANDLER = "clinic_operations.handler.handler"
DEFAULT_FUNCTION_NAME = "clinic-operations"
DEFAULT_POLLERS = 5


# --- Lambda's contract (pure) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The attributes of Lambda's context object a handler commonly reads."""

    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    deadline_ms: int
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def to_lambda_event(
    messages: Sequence[MessageTypeDef], *, queue_arn: str, region: str
) -> dict[str, Any]:
    """The event Lambda passes for a batch received from an SQS queue."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {
                    name: _message_attribute(value)
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def _message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [
            base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
        ],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        rendered["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        rendered["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return rendered


def failed_message_ids(message_ids: Sequence[str], response: object) -> set[str]:
    """Which messages of a batch failed, by Lambda's rules for ReportBatchItemFailures.

    Complete success: no response, an empty response, or a null or empty
    ``batchItemFailures``. Complete failure: a response Lambda cannot read, or an item whose
    ``itemIdentifier`` is missing, empty or not a message of the batch.
    """
    everything = set(message_ids)
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return everything
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return everything
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


def load_handler(dotted_path: str) -> LambdaHandler:
    """``package.module.function``, resolved the way Lambda resolves its handler setting."""
    module_name, _, function_name = dotted_path.rpartition(".")
    function: LambdaHandler = getattr(importlib.import_module(module_name), function_name)
    return function


# --- the poller -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollResult:
    received: int
    succeeded: int
    failed: int


class SqsEventSourceMapping:
    """Receives, invokes, deletes: one ``poll_once`` is one Lambda invocation."""

    def __init__(
        self,
        sqs: SQSClient,
        handler: LambdaHandler,
        *,
        queue_url: str,
        queue_arn: str,
        region: str,
        function_name: str = DEFAULT_FUNCTION_NAME,
        batch_size: int = 10,
        wait_seconds: int = 5,
        retry_delay_seconds: int | None = None,
        function_timeout_seconds: int = 30,
    ) -> None:
        """
        :param batch_size: messages per invocation, 1-10 (one ReceiveMessage call).
        :param wait_seconds: long poll duration per receive.
        :param retry_delay_seconds: None leaves failed messages invisible for the queue's
            visibility timeout (Lambda's behaviour); a number shortens that for local runs.
        """
        if not 1 <= batch_size <= 10:
            raise ValueError("batch_size must be within 1..10")
        self._sqs = sqs
        self._handler = handler
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._function_name = function_name
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._retry_delay_seconds = retry_delay_seconds
        self._function_timeout_ms = function_timeout_seconds * 1000

    @classmethod
    def for_queue(
        cls, sqs: SQSClient, handler: LambdaHandler, queue_name: str, **options: Any
    ) -> SqsEventSourceMapping:
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        queue_arn = attributes["Attributes"]["QueueArn"]
        region = queue_arn.split(":")[3]
        return cls(sqs, handler, queue_url=queue_url, queue_arn=queue_arn, region=region, **options)

    def poll_once(self) -> PollResult:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return PollResult(received=0, succeeded=0, failed=0)
        event = to_lambda_event(messages, queue_arn=self._queue_arn, region=self._region)
        ids = [message["MessageId"] for message in messages]
        failed = self._invoke(event, ids)
        succeeded = [m for m in messages if m["MessageId"] not in failed]
        self._delete(succeeded)
        self._retry_later([m for m in messages if m["MessageId"] in failed])
        logger.info(
            "batch processed",
            extra={"received": len(messages), "failed": len(failed), "queue": self._queue_url},
        )
        return PollResult(received=len(messages), succeeded=len(succeeded), failed=len(failed))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError):
                # The endpoint restarts with the platform; keep the mapping alive.
                logger.exception("polling failed", extra={"queue": self._queue_url})
                stop.wait(1)

    def run_concurrently(self, pollers: int, stop: threading.Event) -> None:
        """``pollers`` loops of ``run`` at once, as Lambda scales its pollers with the backlog.

        Each invocation needs several round trips per message (the SQS receive and delete, the
        function's own calls), so one poller leaves the queue waiting on latency, not on CPU.
        Concurrent invocations are what Lambda does too: the functions are idempotent for it.
        """
        if pollers < 1:
            raise ValueError("pollers must be at least 1")
        threads = [
            threading.Thread(target=self.run, args=(stop,), name=f"poller-{index}", daemon=True)
            for index in range(pollers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _invoke(self, event: dict[str, Any], ids: list[str]) -> set[str]:
        request_id = str(uuid.uuid4())
        context = LambdaContext(
            function_name=self._function_name,
            aws_request_id=request_id,
            invoked_function_arn=self._function_arn(),
            deadline_ms=int(time.time() * 1000) + self._function_timeout_ms,
        )
        try:
            response = self._handler(event, context)
        except Exception:
            # An exception fails the whole batch, as on Lambda.
            logger.exception("handler raised", extra={"aws_request_id": request_id})
            return set(ids)
        return failed_message_ids(ids, response)

    def _function_arn(self) -> str:
        partition, account = self._queue_arn.split(":")[1], self._queue_arn.split(":")[4]
        return f"arn:{partition}:lambda:{self._region}:{account}:function:{self._function_name}"

    def _delete(self, messages: Sequence[MessageTypeDef]) -> None:
        if not messages:
            return
        response = self._sqs.delete_message_batch(
            QueueUrl=self._queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages)
            ],
        )
        for failure in response.get("Failed", []):
            logger.warning("delete failed", extra={"entry": failure})

    def _retry_later(self, messages: Sequence[MessageTypeDef]) -> None:
        if not messages or self._retry_delay_seconds is None:
            return
        self._sqs.change_message_visibility_batch(
            QueueUrl=self._queue_url,
            Entries=[
                {
                    "Id": str(index),
                    "ReceiptHandle": message["ReceiptHandle"],
                    "VisibilityTimeout": self._retry_delay_seconds,
                }
                for index, message in enumerate(messages)
            ],
        )


# --- the process ------------------------------------------------------------------------


def _wait_for_queue(
    sqs: SQSClient, handler: LambdaHandler, queue_name: str, stop: threading.Event, **options: Any
) -> SqsEventSourceMapping | None:
    while not stop.is_set():
        try:
            return SqsEventSourceMapping.for_queue(sqs, handler, queue_name, **options)
        except sqs.exceptions.QueueDoesNotExist:
            logger.info("waiting for queue", extra={"queue": queue_name})
            stop.wait(2)
    return None


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("stopping", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    retry_delay = os.environ.get("LAMBDA_RETRY_DELAY_SECONDS")
    # LAMBDA_QUEUE_NAME names any function's queue; ONSITE_QUEUE_NAME is the older name, kept
    # for the compose file and Clinic Operations.
    queue_name = os.environ.get(
        "LAMBDA_QUEUE_NAME", os.environ.get("ONSITE_QUEUE_NAME", DEFAULT_QUEUE_NAME)
    )
    handler = load_handler(os.environ.get("LAMBDA_HANDLER", DEFAULT_HANDLER))
    mapping = _wait_for_queue(
        boto3.client("sqs"),
        handler,
        queue_name,
        stop,
        batch_size=int(os.environ.get("LAMBDA_BATCH_SIZE", "10")),
        wait_seconds=int(os.environ.get("SQS_WAIT_SECONDS", "5")),
        retry_delay_seconds=None if retry_delay is None else int(retry_delay),
        function_name=os.environ.get("LAMBDA_FUNCTION_NAME", DEFAULT_FUNCTION_NAME),
    )
    if mapping is not None:
        pollers = int(os.environ.get("LAMBDA_POLLERS", str(DEFAULT_POLLERS)))
        logger.info("polling", extra={"queue": queue_name, "pollers": pollers})
        mapping.run_concurrently(pollers, stop)
    logger.info("stopped")


if __name__ == "__main__":
    main()
