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
from typing import TYPE_CHECKING, Any

import boto3

from clinic_operations.logic import Action, InvalidNotificationError, decide
from clinic_operations.visits import record_cancelled, record_confirmed
from telemetry import Tracing, configure_tracing
from telemetry.instrument import instrument_botocore, instrument_only_inside_spans
from telemetry.sqs_batch import BatchResponse, process_records

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

DEFAULT_TABLE = "clinic-visits"


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """One client per Lambda execution environment, reused across invocations."""
    return boto3.client("dynamodb")


@functools.cache
def tracing() -> Tracing:
    """Tracing per execution environment (OTEL_* variables), built on first use."""
    configured = configure_tracing("clinic-operations")
    instrument_botocore(configured)
    instrument_only_inside_spans(configured)
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
    return process_records(
        event,
        functools.partial(_apply, dynamodb=dynamodb, table=table),
        span_name="record clinic visit",
        rejected=(InvalidNotificationError,),
        tracing=tracing or Tracing(),
    )


def _apply(body: str, message_id: str, *, dynamodb: DynamoDBClient, table: str) -> None:
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
