"""AWS Lambda entry point for the ``onsite-care-plan-events-queue`` event source mapping.

Configured with ``FunctionResponseTypes: [ReportBatchItemFailures]``: records that fail are
returned in ``batchItemFailures`` and stay on the queue (and, after ``maxReceiveCount``
receives, move to the dead-letter queue) while the rest of the batch is deleted.

Environment: ``CLINIC_VISITS_TABLE`` (default ``clinic-visits``); ``AWS_ENDPOINT_URL`` and the
region variables are read by boto3 itself. The client is built on first use, never at import.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import boto3
from opentelemetry.trace import SpanKind

from clinic_operations.logic import Action, InvalidNotificationError, decide
from clinic_operations.visits import record_cancelled, record_confirmed
from telemetry import Tracing, configure_tracing
from telemetry.connector import traceparent_in_body
from telemetry.instrument import instrument_botocore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

DEFAULT_TABLE = "clinic-visits"


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """One client per Lambda execution environment, reused across invocations."""
    return boto3.client("dynamodb")


@functools.cache
def tracing() -> Tracing:
    """Tracing per execution environment (OTEL_* variables), built on first use."""
    configured = configure_tracing("clinic-operations")
    instrument_botocore(configured)
    return configured


def table_name() -> str:
    return os.environ.get("CLINIC_VISITS_TABLE", DEFAULT_TABLE)


def handler(event: Mapping[str, Any], context: object) -> BatchResponse:
    traced = tracing()
    try:
        return process_sqs_event(
            event, dynamodb=dynamodb_client(), table=table_name(), tracing=traced
        )
    finally:
        # The environment may be frozen once the invocation returns: export now.
        traced.flush()


def process_sqs_event(
    event: Mapping[str, Any],
    *,
    dynamodb: DynamoDBClient,
    table: str,
    tracing: Tracing | None = None,
) -> BatchResponse:
    """Applies every record; the ones that could not be applied are reported, not raised.
    Each record is a span continuing the trace its event carries (``detail.headers``)."""
    tracing = tracing or Tracing()
    failures: list[BatchItemFailure] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            body = record["body"]
            with tracing.span(
                "record clinic visit",
                parent=traceparent_in_body(body) if tracing.enabled else None,
                kind=SpanKind.CONSUMER,
                attributes={"messaging.system": "aws_sqs", "messaging.message.id": message_id},
            ):
                _apply(body, dynamodb=dynamodb, table=table, message_id=message_id)
        except (InvalidNotificationError, KeyError) as error:
            logger.warning("record rejected: %s", error, extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
        except Exception:
            # One poison record must not fail its batch: report it and carry on.
            logger.exception("record failed", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _apply(body: str, *, dynamodb: DynamoDBClient, table: str, message_id: str) -> None:
    decision = decide(body)
    visit = decision.visit
    if decision.action is Action.IGNORE or visit is None:
        logger.info("ignored", extra={"message_id": message_id, "reason": decision.reason})
        return
    if decision.action is Action.CONFIRM:
        changed = record_confirmed(dynamodb, table, visit)
    else:
        changed = record_cancelled(dynamodb, table, visit)
    logger.info(
        "%s: visit %s",
        decision.reason,
        "updated" if changed else "unchanged (already applied or cancelled)",
        extra={"message_id": message_id, "booking_id": visit.booking_id},
    )
