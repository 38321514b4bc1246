"""AWS Lambda entry point for the ``confirmed-care-plan-events-queue`` event source mapping.

Configured with ``FunctionResponseTypes: [ReportBatchItemFailures]`` as Clinic Operations is:
records that fail are returned in ``batchItemFailures`` and stay on the queue (after
``maxReceiveCount`` receives, its redrive policy moves them to the dead-letter queue) while the
rest of the batch is deleted.

Environment: ``NOTIFICATIONS_TABLE`` (default ``patient-notifications``),
``NOTIFICATION_SENDER`` (default ``bookings@careplan.example``),
``NOTIFICATION_RECIPIENT_TEMPLATE`` (default ``patient-{patient_id}@patients.careplan.example``);
``AWS_ENDPOINT_URL`` and the region variables are read by boto3 itself. Clients are built on
first use, never at import.

Each record is a span continuing the booking's trace (telemetry.sqs_batch): the rules' input
transformer copies the connector-shaped ``detail.headers``, ``traceparent`` among them, into
the message, as the on-site rule does for Clinic Operations; the ledger's DynamoDB calls and
the SES send are the span's children through the botocore instrumentation.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

import boto3

from patient_notifications.ledger import claim, mark_sent, release
from patient_notifications.logic import (
    Addressing,
    Email,
    InvalidNotificationError,
    compose,
    decide,
)
from telemetry import Tracing, configure_tracing
from telemetry.instrument import instrument_botocore, instrument_only_inside_spans
from telemetry.sqs_batch import BatchResponse, process_records

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

DEFAULT_TABLE = "patient-notifications"
DEFAULT_SENDER = "bookings@careplan.example"
DEFAULT_RECIPIENT_TEMPLATE = "patient-{patient_id}@patients.careplan.example"
# Shorter than the function timeout: a claim outlives only an invocation that died holding it.
LEASE_SECONDS = 10.0


class EmailClient(Protocol):
    """The part of boto3's ``sesv2`` client used here."""

    def send_email(self, **kwargs: Any) -> Mapping[str, Any]: ...


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """One client per Lambda execution environment, reused across invocations."""
    return boto3.client("dynamodb")


@functools.cache
def ses_client() -> EmailClient:
    return cast(EmailClient, boto3.client("sesv2"))


@functools.cache
def tracing() -> Tracing:
    """Tracing per execution environment (OTEL_* variables), built on first use."""
    configured = configure_tracing("patient-notifications")
    instrument_botocore(configured)
    instrument_only_inside_spans(configured)
    return configured


def table_name() -> str:
    return os.environ.get("NOTIFICATIONS_TABLE", DEFAULT_TABLE)


def addressing() -> Addressing:
    return Addressing(
        sender=os.environ.get("NOTIFICATION_SENDER", DEFAULT_SENDER),
        recipient_template=os.environ.get(
            "NOTIFICATION_RECIPIENT_TEMPLATE", DEFAULT_RECIPIENT_TEMPLATE
        ),
    )


def handler(event: Mapping[str, Any], context: object) -> BatchResponse:
    traced = tracing()
    try:
        return process_sqs_event(
            event,
            dynamodb=dynamodb_client(),
            ses=ses_client(),
            table=table_name(),
            addressing=addressing(),
            tracing=traced,
        )
    finally:
        # The environment may be frozen once the invocation returns: export now.
        traced.flush()


def process_sqs_event(
    event: Mapping[str, Any],
    *,
    dynamodb: DynamoDBClient,
    ses: EmailClient,
    table: str,
    addressing: Addressing,
    clock: Callable[[], float] = time.time,
    tracing: Tracing | None = None,
) -> BatchResponse:
    """Notifies for every record; the ones that could not be handled are reported, not raised.
    Each record is a span continuing the trace its message carries (``detail.headers``)."""
    return process_records(
        event,
        functools.partial(
            _notify, dynamodb=dynamodb, ses=ses, table=table, addressing=addressing, clock=clock
        ),
        span_name="notify patient",
        rejected=(InvalidNotificationError,),
        tracing=tracing or Tracing(),
    )


def _notify(
    body: str,
    message_id: str,
    *,
    dynamodb: DynamoDBClient,
    ses: EmailClient,
    table: str,
    addressing: Addressing,
    clock: Callable[[], float],
) -> None:
    decision = decide(body)
    notification = decision.notification
    if notification is None:
        logger.info("ignored", extra={"message_id": message_id, "reason": decision.reason})
        return
    log = {"message_id": message_id, "booking_id": notification.booking_id}
    if not claim(dynamodb, table, notification, now=clock(), lease_seconds=LEASE_SECONDS):
        logger.info("%s already sent or no longer due", notification.kind.value, extra=log)
        return
    email = compose(notification, addressing)
    try:
        ses_message_id = _send(ses, email, notification.booking_id, notification.kind.value)
    except Exception:
        release(dynamodb, table, notification)
        raise
    sent_at = datetime.fromtimestamp(clock(), UTC).isoformat(timespec="milliseconds")
    mark_sent(dynamodb, table, notification, email, message_id=ses_message_id, sent_at=sent_at)
    logger.info("%s sent", notification.kind.value, extra=log | {"ses_message_id": ses_message_id})


def _send(ses: EmailClient, email: Email, booking_id: str, kind: str) -> str:
    response = ses.send_email(
        FromEmailAddress=email.sender,
        Destination={"ToAddresses": [email.recipient]},
        Content={
            "Simple": {
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}},
            }
        },
        # For tracing a delivery back to its booking in SES events; not relied on for dedup.
        EmailTags=[
            {"Name": "bookingId", "Value": booking_id},
            {"Name": "kind", "Value": kind},
        ],
    )
    return str(response["MessageId"])
