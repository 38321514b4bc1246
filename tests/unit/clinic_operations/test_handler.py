"""The Lambda handler against literal SQS events, with DynamoDB mocked in process by moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from clinic_operations import handler as handler_module
from clinic_operations.handler import handler, process_sqs_event
from clinic_operations.logic import Visit, VisitStatus
from clinic_operations.visits import list_visits
from devstack.aws_bootstrap import load_aws_resources

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE = "clinic-visits"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:onsite-care-plan-events-queue"


def _eventbridge_event(event_id: str, booking_id: str, status: str) -> str:
    """The body the onsite rule delivers: the whole EventBridge event."""
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": "kafka-connect-careplan.bookings",
            "source": "kafka-connect.care-plan-sink",
            "account": "123456789012",
            "time": "2026-11-30T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "topic": "careplan.bookings",
                "partition": 0,
                "offset": 12,
                "timestamp": 1764496800000,
                "timestampType": "CreateTime",
                "headers": [],
                "key": booking_id,
                "value": {
                    "booking": {
                        "id": booking_id,
                        "providerAvailabilityId": "a-1",
                        "patientId": "p-1",
                        "status": status,
                        "paymentMode": "INSURANCE_PAY",
                    },
                    "patient": {
                        "id": "p-1",
                        "firstName": "Grace",
                        "lastName": "Hopper",
                        "gender": "FEMALE",
                        "dateOfBirth": "1906-12-09",
                    },
                    "encounterType": "ONSITE",
                    "slot": {
                        "fromDate": "2026-12-01T09:00:00+00:00",
                        "toDate": "2026-12-01T09:30:00+00:00",
                        "providerId": "prov-1",
                        "speciality": "Dentist",
                    },
                },
            },
        }
    )


def _record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1764496800000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1764496800010",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def _sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def _visit(booking_id: str, status: VisitStatus, booking_status: str, event_id: str) -> Visit:
    return Visit(
        booking_id=booking_id,
        patient_id="p-1",
        patient_first_name="Grace",
        patient_last_name="Hopper",
        provider_id="prov-1",
        speciality="Dentist",
        slot_from="2026-12-01T09:00:00+00:00",
        slot_to="2026-12-01T09:30:00+00:00",
        encounter_type="ONSITE",
        status=status,
        booking_status=booking_status,
        event_id=event_id,
        event_time="2026-11-30T10:00:00Z",
    )


def _create_table(dynamodb: DynamoDBClient, name: str) -> None:
    (table,) = [t for t in load_aws_resources().tables if t.table_name == TABLE]
    dynamodb.create_table(**{**table.definition, "TableName": name})


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBClient]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(client, TABLE)
        yield client


def _process(dynamodb: DynamoDBClient, *records: dict[str, Any]) -> Any:
    return process_sqs_event(_sqs_event(*records), dynamodb=dynamodb, table=TABLE)


def test_confirmation_creates_a_confirmed_visit(dynamodb: DynamoDBClient) -> None:
    response = _process(dynamodb, _record("m-1", _eventbridge_event("e-1", "b-1", "CONFIRMED")))

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, TABLE) == [
        _visit("b-1", VisitStatus.CONFIRMED, "CONFIRMED", "e-1")
    ]


def test_poison_records_are_reported_while_the_rest_of_the_batch_succeeds(
    dynamodb: DynamoDBClient,
) -> None:
    missing_booking = json.loads(_eventbridge_event("e-x", "b-x", "CONFIRMED"))
    del missing_booking["detail"]["value"]["booking"]

    response = _process(
        dynamodb,
        _record("m-ok-1", _eventbridge_event("e-1", "b-1", "CONFIRMED")),
        _record("m-poison", "this is not JSON"),
        _record("m-missing", json.dumps(missing_booking)),
        _record("m-ok-2", _eventbridge_event("e-2", "b-2", "CONFIRMED")),
    )

    assert response == {
        "batchItemFailures": [{"itemIdentifier": "m-poison"}, {"itemIdentifier": "m-missing"}]
    }
    assert list_visits(dynamodb, TABLE) == [
        _visit("b-1", VisitStatus.CONFIRMED, "CONFIRMED", "e-1"),
        _visit("b-2", VisitStatus.CONFIRMED, "CONFIRMED", "e-2"),
    ]


def test_cancellation_marks_the_confirmed_visit_cancelled(dynamodb: DynamoDBClient) -> None:
    _process(dynamodb, _record("m-1", _eventbridge_event("e-1", "b-1", "CONFIRMED")))

    response = _process(
        dynamodb, _record("m-2", _eventbridge_event("e-2", "b-1", "CANCELLED_BY_PATIENT"))
    )

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, TABLE) == [
        _visit("b-1", VisitStatus.CANCELLED, "CANCELLED_BY_PATIENT", "e-2")
    ]


def test_redelivered_confirmation_does_not_reset_a_cancelled_visit(
    dynamodb: DynamoDBClient,
) -> None:
    confirmation = _record("m-1", _eventbridge_event("e-1", "b-1", "CONFIRMED"))
    _process(dynamodb, confirmation)
    _process(dynamodb, _record("m-2", _eventbridge_event("e-2", "b-1", "CANCELLED_BY_PROVIDER")))

    response = _process(dynamodb, confirmation)

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, TABLE) == [
        _visit("b-1", VisitStatus.CANCELLED, "CANCELLED_BY_PROVIDER", "e-2")
    ]


def test_cancellation_before_its_confirmation_still_ends_cancelled(
    dynamodb: DynamoDBClient,
) -> None:
    response = _process(
        dynamodb,
        _record("m-2", _eventbridge_event("e-2", "b-1", "CANCELLED_BY_PATIENT")),
        _record("m-1", _eventbridge_event("e-1", "b-1", "CONFIRMED")),
    )

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, TABLE) == [
        _visit("b-1", VisitStatus.CANCELLED, "CANCELLED_BY_PATIENT", "e-2")
    ]


def test_redelivered_cancellation_keeps_the_first_cancellation(dynamodb: DynamoDBClient) -> None:
    _process(dynamodb, _record("m-1", _eventbridge_event("e-1", "b-1", "CANCELLED_BY_PATIENT")))

    response = _process(
        dynamodb, _record("m-2", _eventbridge_event("e-2", "b-1", "CANCELLED_BY_PROVIDER"))
    )

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, TABLE) == [
        _visit("b-1", VisitStatus.CANCELLED, "CANCELLED_BY_PATIENT", "e-1")
    ]


def test_rejected_booking_is_acknowledged_without_a_visit(dynamodb: DynamoDBClient) -> None:
    response = _process(dynamodb, _record("m-1", _eventbridge_event("e-1", "b-1", "REJECTED")))

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, TABLE) == []


def test_dynamodb_errors_are_reported_per_record(dynamodb: DynamoDBClient) -> None:
    response = process_sqs_event(
        _sqs_event(
            _record("m-1", _eventbridge_event("e-1", "b-1", "CONFIRMED")),
            _record("m-2", _eventbridge_event("e-2", "b-2", "CANCELLED_BY_PATIENT")),
        ),
        dynamodb=dynamodb,
        table="no-such-table",
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


def test_lambda_entry_point_uses_the_table_named_in_the_environment(
    dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_VISITS_TABLE", "clinic-visits-staging")
    _create_table(dynamodb, "clinic-visits-staging")
    handler_module.dynamodb_client.cache_clear()
    try:
        response = handler(
            _sqs_event(_record("m-1", _eventbridge_event("e-1", "b-9", "CONFIRMED"))), None
        )
    finally:
        handler_module.dynamodb_client.cache_clear()

    assert response == {"batchItemFailures": []}
    assert list_visits(dynamodb, "clinic-visits-staging") == [
        _visit("b-9", VisitStatus.CONFIRMED, "CONFIRMED", "e-1")
    ]
    assert list_visits(dynamodb, TABLE) == []
