"""One SQS batch handed to a Lambda function by its event source mapping, record by record.

Both functions behind the bus (Clinic Operations, Patient Notifications) are mapped with
``FunctionResponseTypes: [ReportBatchItemFailures]``: a record that fails is returned in
``batchItemFailures`` and stays on its queue (its redrive policy moves it to the dead-letter
queue after ``maxReceiveCount`` receives) while the rest of the batch is deleted. Each record is
a span continuing the booking's trace from the connector-shaped ``detail.headers`` its body
carries (telemetry.connector), so the AWS calls made while applying it are that span's children.

It lives here rather than in ``eventing`` because the functions ship with boto3 and this
package only: no Kafka client, no database driver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from opentelemetry.trace import SpanKind

from telemetry.connector import traceparent_in_body
from telemetry.tracing import Tracing

logger = logging.getLogger(__name__)


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


def process_records(
    event: Mapping[str, Any],
    apply: Callable[[str, str], None],
    *,
    span_name: str,
    rejected: tuple[type[Exception], ...],
    tracing: Tracing,
) -> BatchResponse:
    """Calls ``apply(body, message_id)`` for every record, each inside a span named
    ``span_name``; the records it could not apply are reported, never raised.

    :param rejected: the errors that mean the record itself is invalid (logged as a warning,
        without a stack trace); any other error is logged with one.
    """
    # A record without a body is as invalid as one the function cannot read.
    invalid: tuple[type[Exception], ...] = (*rejected, KeyError)
    failures: list[BatchItemFailure] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            body = record["body"]
            with tracing.span(
                span_name,
                parent=traceparent_in_body(body) if tracing.enabled else None,
                kind=SpanKind.CONSUMER,
                attributes={"messaging.system": "aws_sqs", "messaging.message.id": message_id},
            ):
                apply(body, message_id)
        except invalid as error:
            logger.warning("record rejected: %s", error, extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
        except Exception:
            # One poison record must not fail its batch: report it and carry on.
            logger.exception("record failed", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
