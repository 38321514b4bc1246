"""Sink entries through the real rules on a moto server, into the queues and the Lambda.

Kafka record -> ``eventbridge_sink.mapping`` -> PutEvents -> rules of deploy/eventbridge ->
SQS -> ``devstack.lambda_runner`` -> ``clinic_operations.handler`` -> DynamoDB.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from clinic_operations.logic import Visit, VisitStatus, decide
from clinic_operations.visits import list_visits
from contract import topics
from contract.events import (
    BookingEvent,
    BookingSnapshot,
    BookingStatus,
    EncounterType,
    PatientSnapshot,
    PaymentMode,
    Slot,
)
from devstack.aws_bootstrap import AppliedResources, AwsClients, apply_aws_resources
from devstack.lambda_runner import (
    DEFAULT_HANDLER,
    PollResult,
    SqsEventSourceMapping,
    load_handler,
)
from eventbridge_sink.mapping import KafkaRecord, to_put_events_entry
from telemetry.connector import traceparent_in_event
from tests.integration.aws.conftest import AWS_REGION

pytestmark = pytest.mark.integration

BUS = "care-plan-events"
CONFIRMED_QUEUE = "confirmed-care-plan-events-queue"
ONSITE_QUEUE = "onsite-care-plan-events-queue"
ONSITE_DLQ = "onsite-care-plan-events-dlq"
VISITS_TABLE = "clinic-visits"
DEADLINE_SECONDS = 15.0


class Booking:
    """One booking's ids and the Kafka records care-plan would publish about it."""

    def __init__(self, encounter_type: EncounterType) -> None:
        self.id = uuid.uuid4()
        self.patient_id = uuid.uuid4()
        self.provider_id = uuid.uuid4()
        self.encounter_type = encounter_type
        self.traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"

    def record(self, status: BookingStatus, offset: int = 0) -> KafkaRecord:
        event = BookingEvent(
            booking=BookingSnapshot(
                id=self.id,
                provider_availability_id=uuid.uuid4(),
                patient_id=self.patient_id,
                status=status,
                payment_mode=PaymentMode.INSURANCE_PAY,
            ),
            patient=PatientSnapshot(
                id=self.patient_id,
                first_name="Ada",
                last_name="Lovelace",
                gender="FEMALE",
                date_of_birth=date(1991, 8, 6),
            ),
            encounter_type=self.encounter_type,
            slot=Slot(
                from_date=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
                to_date=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
                provider_id=self.provider_id,
                speciality="Dentist",
            ),
        )
        ce_type = "BOOKING_CONFIRMED" if status is BookingStatus.CONFIRMED else "BOOKING_CANCELLED"
        return KafkaRecord(
            topic=topics.CAREPLAN_BOOKINGS,
            partition=0,
            offset=offset,
            timestamp_ms=1764579600000,
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_type", ce_type.encode()),
                ("traceparent", self.traceparent.encode()),
            ],
            key=str(self.id).encode(),
            value=json.dumps(event.to_json_dict()).encode(),
        )


def _put(clients: AwsClients, record: KafkaRecord) -> tuple[str, dict[str, Any]]:
    """Puts the sink's entry for ``record``; returns the event id and the entry's detail."""
    entry = to_put_events_entry(record, connector_id="care-plan-sink", event_bus_name=BUS)
    response = clients.events.put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0, response["Entries"]
    return response["Entries"][0]["EventId"], json.loads(entry["Detail"])


def _body(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _drain_until(
    clients: AwsClients, queue_url: str, found: Callable[[list[Any]], bool]
) -> list[Any]:
    """Receives and deletes messages until ``found`` holds for the bodies seen so far."""
    bodies: list[Any] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        response = clients.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in response.get("Messages", []):
            bodies.append(_body(message["Body"]))
            clients.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if found(bodies):
            return bodies
    raise AssertionError(f"not found within {DEADLINE_SECONDS}s in {queue_url}; saw {bodies}")


def _booking_id_of(body: Any) -> str | None:
    # A notification carries a ``detail`` too (the record's headers), but no value in it.
    if isinstance(body, dict) and "data" in body:
        return str(body["data"]["bookingId"])
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"]["value"]["booking"]["id"])
    return None


def _visit_of(clients: AwsClients, booking: Booking) -> Visit | None:
    for visit in list_visits(clients.dynamodb, VISITS_TABLE):
        if visit.booking_id == str(booking.id):
            return visit
    return None


def _poll_until(mapping: SqsEventSourceMapping, done: Callable[[], bool]) -> list[PollResult]:
    results: list[PollResult] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        results.append(mapping.poll_once())
        if done():
            return results
    raise AssertionError(f"condition not met within {DEADLINE_SECONDS}s; polls: {results}")


def test_applying_the_resources_twice_changes_nothing(
    aws_clients: AwsClients, applied_aws_resources: AppliedResources
) -> None:
    again = apply_aws_resources(aws_clients)

    assert again == applied_aws_resources
    targets = aws_clients.events.list_targets_by_rule(
        Rule="all-confirmed-care-plan-events", EventBusName=BUS
    )["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [
        (CONFIRMED_QUEUE, applied_aws_resources.queue_arns[CONFIRMED_QUEUE])
    ]
    attributes = aws_clients.sqs.get_queue_attributes(
        QueueUrl=applied_aws_resources.queue_urls[ONSITE_QUEUE], AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": applied_aws_resources.queue_arns[ONSITE_DLQ],
        "maxReceiveCount": 3,
    }


def test_onsite_confirmed_booking_reaches_both_queues(
    aws_clients: AwsClients, applied_aws_resources: AppliedResources
) -> None:
    booking = Booking(EncounterType.ONSITE)

    event_id, detail = _put(aws_clients, booking.record(BookingStatus.CONFIRMED))

    confirmed = _drain_until(
        aws_clients,
        applied_aws_resources.queue_urls[CONFIRMED_QUEUE],
        lambda bodies: any(_booking_id_of(b) == str(booking.id) for b in bodies),
    )
    (notification,) = [b for b in confirmed if _booking_id_of(b) == str(booking.id)]
    # The contract's notification, with our additive data fields (status, encounter, slot).
    assert {key: notification[key] for key in ("source", "event-type", "id")} == {
        "source": "com.providerschedule",
        "event-type": "Notification",
        "id": event_id,
    }
    assert notification["data"]["patientId"] == str(booking.patient_id)
    assert notification["data"]["bookingId"] == str(booking.id)
    assert notification["data"]["status"] == "CONFIRMED"
    assert notification["data"]["encounterType"] == "ONSITE"
    # The record's headers ride along: the function continues the booking's trace from them.
    assert traceparent_in_event(notification) == booking.traceparent
    onsite = _drain_until(
        aws_clients,
        applied_aws_resources.queue_urls[ONSITE_QUEUE],
        lambda bodies: any(_booking_id_of(b) == str(booking.id) for b in bodies),
    )
    (delivered,) = [b for b in onsite if _booking_id_of(b) == str(booking.id)]
    assert delivered["id"] == event_id
    # The input transformer keeps what a visit records: the function reads the same visit from
    # it as from the whole event, and nothing else of the patient travels.
    whole = {"id": event_id, "time": delivered["time"], "detail": detail}
    assert decide(json.dumps(delivered)) == decide(json.dumps(whole))
    patient = delivered["detail"]["value"]["patient"]
    assert set(patient) == {"id", "firstName", "lastName"}
    assert "insurance" not in json.dumps(delivered)


def test_virtual_confirmed_booking_reaches_only_the_confirmed_queue(
    aws_clients: AwsClients, applied_aws_resources: AppliedResources
) -> None:
    virtual = Booking(EncounterType.VIRTUAL)
    marker = Booking(EncounterType.ONSITE)

    _put(aws_clients, virtual.record(BookingStatus.CONFIRMED))
    # EventBridge routes in order here, so once the later onsite marker has arrived the
    # virtual booking would have arrived before it, had it been routed to the onsite queue.
    _put(aws_clients, marker.record(BookingStatus.CONFIRMED))

    _drain_until(
        aws_clients,
        applied_aws_resources.queue_urls[CONFIRMED_QUEUE],
        lambda bodies: any(_booking_id_of(b) == str(virtual.id) for b in bodies),
    )
    onsite = _drain_until(
        aws_clients,
        applied_aws_resources.queue_urls[ONSITE_QUEUE],
        lambda bodies: any(_booking_id_of(b) == str(marker.id) for b in bodies),
    )
    assert str(virtual.id) not in [_booking_id_of(b) for b in onsite]


def test_lambda_runner_records_the_visit_and_then_its_cancellation(
    aws_clients: AwsClients, applied_aws_resources: AppliedResources, lambda_environment: None
) -> None:
    booking = Booking(EncounterType.ONSITE)
    events: list[dict[str, Any]] = []
    handler = load_handler(DEFAULT_HANDLER)

    def recording_handler(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return handler(event, context)

    mapping = SqsEventSourceMapping.for_queue(
        aws_clients.sqs, recording_handler, ONSITE_QUEUE, wait_seconds=1
    )
    confirmed_id, _ = _put(aws_clients, booking.record(BookingStatus.CONFIRMED, offset=1))

    _poll_until(mapping, lambda: _visit_of(aws_clients, booking) is not None)

    visit = _visit_of(aws_clients, booking)
    assert visit is not None
    assert replace(visit, event_time=None) == Visit(
        booking_id=str(booking.id),
        patient_id=str(booking.patient_id),
        patient_first_name="Ada",
        patient_last_name="Lovelace",
        provider_id=str(booking.provider_id),
        speciality="Dentist",
        slot_from="2026-12-01T09:00:00+00:00",
        slot_to="2026-12-01T09:30:00+00:00",
        encounter_type="ONSITE",
        status=VisitStatus.CONFIRMED,
        booking_status="CONFIRMED",
        event_id=confirmed_id,
        event_time=None,
    )
    # The time EventBridge stamped on the event (the sink sets no Time).
    assert visit.event_time is not None
    assert datetime.fromisoformat(visit.event_time).tzinfo is not None
    records = [r for e in events for r in e["Records"] if str(booking.id) in r["body"]]
    (record,) = records
    assert sorted(record) == [
        "attributes",
        "awsRegion",
        "body",
        "eventSource",
        "eventSourceARN",
        "md5OfBody",
        "messageAttributes",
        "messageId",
        "receiptHandle",
    ]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == applied_aws_resources.queue_arns[ONSITE_QUEUE]
    assert record["awsRegion"] == AWS_REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert record["messageAttributes"] == {}

    cancelled_id, _ = _put(
        aws_clients, booking.record(BookingStatus.CANCELLED_BY_PATIENT, offset=2)
    )
    _poll_until(
        mapping,
        lambda: getattr(_visit_of(aws_clients, booking), "status", None) is VisitStatus.CANCELLED,
    )

    visit = _visit_of(aws_clients, booking)
    assert visit is not None
    assert (visit.status, visit.booking_status, visit.event_id) == (
        VisitStatus.CANCELLED,
        "CANCELLED_BY_PATIENT",
        cancelled_id,
    )


def test_poison_message_lands_in_the_dead_letter_queue_after_max_receive_count(
    aws_clients: AwsClients, applied_aws_resources: AppliedResources, lambda_environment: None
) -> None:
    poison = f"poison {uuid.uuid4()}: not an EventBridge event"
    dlq_url = applied_aws_resources.queue_urls[ONSITE_DLQ]
    mapping = SqsEventSourceMapping.for_queue(
        aws_clients.sqs,
        load_handler(DEFAULT_HANDLER),
        ONSITE_QUEUE,
        wait_seconds=1,
        retry_delay_seconds=0,
    )
    aws_clients.sqs.send_message(
        QueueUrl=applied_aws_resources.queue_urls[ONSITE_QUEUE], MessageBody=poison
    )
    dead_letters: list[Any] = []

    def in_dead_letter_queue() -> bool:
        response = aws_clients.sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)
        dead_letters.extend(m["Body"] for m in response.get("Messages", []))
        return poison in dead_letters

    results = _poll_until(mapping, in_dead_letter_queue)

    assert sum(result.failed for result in results) == 3
    assert sum(result.succeeded for result in results) == 0
