"""The Lambda handler against literal SQS events, with DynamoDB and SES mocked in process by moto
(which keeps every e-mail it accepted)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.aws_bootstrap import load_aws_resources
from patient_notifications import handler as handler_module
from patient_notifications.handler import LEASE_SECONDS, handler, process_sqs_event
from patient_notifications.ledger import claim, list_notifications
from patient_notifications.logic import Addressing, Kind, decide
from telemetry import Tracing, configure_tracing
from telemetry.instrument import instrument_botocore

TABLE = "patient-notifications"
REGION = "us-east-1"
SENDER_DOMAIN = "careplan.example"
ADDRESSING = Addressing(
    sender=f"bookings@{SENDER_DOMAIN}",
    recipient_template="patient-{patient_id}@patients.careplan.example",
)


def body(booking_id: str, status: str, event_id: str = "e-1") -> str:
    return json.dumps(
        {
            "source": "com.providerschedule",
            "event-type": "Notification",
            "id": event_id,
            "data": {
                "patientId": "p-1",
                "bookingId": booking_id,
                "status": status,
                "encounterType": "VIRTUAL",
                "slotFrom": "2026-12-01T09:00:00Z",
                "slotTo": "2026-12-01T09:30:00Z",
            },
        }
    )


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m-{index}", "body": text, "eventSource": "aws:sqs"}
            for index, text in enumerate(bodies)
        ]
    }


class Aws:
    def __init__(self) -> None:
        self.dynamodb: Any = boto3.client("dynamodb", region_name=REGION)
        self.ses: Any = boto3.client("sesv2", region_name=REGION)
        (definition,) = [t.definition for t in load_aws_resources().tables if t.table_name == TABLE]
        self.dynamodb.create_table(**definition)

    def verify_sender(self) -> None:
        self.ses.create_email_identity(EmailIdentity=SENDER_DOMAIN)

    def run(self, event: dict[str, Any], now: float = 1_000.0) -> list[str]:
        response = process_sqs_event(
            event,
            dynamodb=self.dynamodb,
            ses=self.ses,
            table=TABLE,
            addressing=ADDRESSING,
            clock=lambda: now,
        )
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    @staticmethod
    def sent() -> list[Any]:
        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield Aws()


def test_a_confirmation_is_sent_to_the_patient_and_recorded(aws: Aws) -> None:
    aws.verify_sender()
    assert aws.run(sqs_event(body("b-1", "CONFIRMED"))) == []

    (sent,) = aws.sent()
    assert sent.destinations["ToAddresses"] == ["patient-p-1@patients.careplan.example"]
    assert sent.subject == "Your appointment is confirmed"
    assert "b-1" in sent.body
    (row,) = list_notifications(aws.dynamodb, TABLE)
    assert (row.booking_id, row.kind, row.state) == ("b-1", Kind.CONFIRMATION, "SENT")
    assert row.message_id == sent.id


def test_a_redelivered_message_sends_nothing_twice(aws: Aws) -> None:
    aws.verify_sender()
    message = body("b-1", "CONFIRMED")
    assert aws.run(sqs_event(message)) == []
    assert aws.run(sqs_event(message)) == []
    assert aws.run(sqs_event(message, message)) == []
    assert len(aws.sent()) == 1


def test_a_cancellation_after_the_confirmation_sends_a_notice(aws: Aws) -> None:
    aws.verify_sender()
    assert aws.run(sqs_event(body("b-1", "CONFIRMED"))) == []
    assert aws.run(sqs_event(body("b-1", "CANCELLED_BY_PATIENT", "e-2"))) == []

    assert [m.subject for m in aws.sent()] == [
        "Your appointment is confirmed",
        "Your appointment is cancelled",
    ]
    kinds = {row.kind for row in list_notifications(aws.dynamodb, TABLE)}
    assert kinds == {Kind.CONFIRMATION, Kind.CANCELLATION}


def test_a_confirmation_overtaken_by_its_cancellation_is_not_sent(aws: Aws) -> None:
    aws.verify_sender()
    assert aws.run(sqs_event(body("b-1", "CANCELLED_BY_PROVIDER", "e-2"))) == []
    assert aws.run(sqs_event(body("b-1", "CONFIRMED"))) == []

    assert [m.subject for m in aws.sent()] == ["Your appointment was cancelled by your provider"]


def test_a_failed_send_is_reported_and_the_retry_sends_it(aws: Aws) -> None:
    """SES refuses an unverified sender: the record fails alone and its claim is released, so
    the redelivery sends at once instead of waiting out the lease."""
    assert aws.run(sqs_event(body("b-1", "CONFIRMED"), "not json", body("b-2", "REJECTED"))) == [
        "m-0",
        "m-1",
    ]
    assert aws.sent() == []

    aws.verify_sender()
    assert aws.run(sqs_event(body("b-1", "CONFIRMED"))) == []
    assert len(aws.sent()) == 1


def test_a_claim_left_by_a_dead_invocation_is_taken_over_after_its_lease(aws: Aws) -> None:
    aws.verify_sender()
    notification = decide(body("b-1", "CONFIRMED")).notification
    assert notification is not None
    assert claim(aws.dynamodb, TABLE, notification, now=1_000.0, lease_seconds=LEASE_SECONDS)

    assert aws.run(sqs_event(body("b-1", "CONFIRMED")), now=1_000.0 + LEASE_SECONDS / 2) == []
    assert aws.sent() == [], "sent while another invocation held the claim"
    assert aws.run(sqs_event(body("b-1", "CONFIRMED")), now=1_000.0 + LEASE_SECONDS + 1) == []
    assert len(aws.sent()) == 1


def test_the_entry_point_reads_its_settings_from_the_environment(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.verify_sender()
    monkeypatch.setenv("NOTIFICATION_RECIPIENT_TEMPLATE", "{patient_id}@example.org")
    for cached in (handler_module.dynamodb_client, handler_module.ses_client):
        cached.cache_clear()
    try:
        assert handler(sqs_event(body("b-9", "CONFIRMED")), None) == {"batchItemFailures": []}
    finally:
        for cached in (handler_module.dynamodb_client, handler_module.ses_client):
            cached.cache_clear()
    (sent,) = aws.sent()
    assert sent.destinations["ToAddresses"] == ["p-1@example.org"]


# The booking's trace context, as the record that became the bus event carried it.
BOOKING_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
BOOKING_TRACEPARENT = f"00-{BOOKING_TRACE_ID}-00f067aa0ba902b7-01"


def traced_body(booking_id: str, status: str) -> str:
    """The message as the notification rules render it: the record's headers in ``detail``."""
    message = json.loads(body(booking_id, status))
    message["detail"] = {"headers": [{"ce_type": "x"}, {"traceparent": BOOKING_TRACEPARENT}]}
    return json.dumps(message)


@pytest.fixture
def spans() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    """Tracing on, exported in memory, with the botocore instrumentation the entry point adds
    (removed afterwards: it patches botocore for the whole process)."""
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("patient-notifications", exporter=exporter)
    instrument_botocore(tracing)
    try:
        yield tracing, exporter
    finally:
        BotocoreInstrumentor().uninstrument()  # type: ignore[no-untyped-call]


def test_a_notification_continues_the_bookings_trace_with_the_send_as_its_child(
    aws: Aws, spans: tuple[Tracing, InMemorySpanExporter]
) -> None:
    tracing, exporter = spans
    aws.verify_sender()
    exporter.clear()
    response = process_sqs_event(
        sqs_event(traced_body("b-1", "CONFIRMED")),
        dynamodb=aws.dynamodb,
        ses=aws.ses,
        table=TABLE,
        addressing=ADDRESSING,
        tracing=tracing,
    )
    assert response == {"batchItemFailures": []}

    finished = exporter.get_finished_spans()
    (notify,) = [s for s in finished if s.name == "notify patient"]
    assert f"{notify.context.trace_id:032x}" == BOOKING_TRACE_ID
    assert notify.parent is not None
    assert f"{notify.parent.span_id:016x}" == "00f067aa0ba902b7"
    children = [s for s in finished if s.parent and s.parent.span_id == notify.context.span_id]
    operations = [s.attributes.get("rpc.method") for s in children if s.attributes]
    assert "SendEmail" in operations, [s.name for s in finished]
    assert "UpdateItem" in operations
