"""deploy/eventbridge: the files load, and say what CONTRACT.md section 5 says."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from devstack.aws_bootstrap import (
    AwsResources,
    ResourceDefinitionError,
    default_resources_dir,
    load_aws_resources,
    parse_aws_resources,
    queue_arn_for,
    queue_policy,
    rule_requests,
)

CONFIRMED_TEMPLATE = (
    '{"source": "com.providerschedule", "event-type": "Notification", "id": "<id>", '
    '"data": {"patientId": "<patientId>", "bookingId": "<bookingId>", "status": "<status>", '
    '"encounterType": "<encounterType>", "slotFrom": "<slotFrom>", "slotTo": "<slotTo>"}, '
    # The record's headers, for the trace context the function continues.
    '"detail": {"headers": <headers>}}'
)
NOTIFICATION_PATHS = {
    "id": "$.id",
    "patientId": "$.detail.value.patient.id",
    "bookingId": "$.detail.value.booking.id",
    "status": "$.detail.value.booking.status",
    "encounterType": "$.detail.value.encounterType",
    "slotFrom": "$.detail.value.slot.fromDate",
    "slotTo": "$.detail.value.slot.toDate",
    "headers": "$.detail.headers",
}

# What a clinic visit records, and nothing else of the patient (no date of birth, gender or
# insurance): the Clinic Operations function reads it in the shape of the whole event.
ONSITE_TEMPLATE = (
    '{"id": "<id>", "time": "<time>", "detail": {"headers": <headers>, "value": {'
    '"booking": {"id": "<bookingId>", "status": "<status>"}, '
    '"encounterType": "<encounterType>", '
    '"patient": {"id": "<patientId>", "firstName": "<firstName>", "lastName": "<lastName>"}, '
    '"slot": {"providerId": "<providerId>", "speciality": "<speciality>", '
    '"fromDate": "<slotFrom>", "toDate": "<slotTo>"}}}}'
)
ONSITE_PATHS = {
    "id": "$.id",
    "time": "$.time",
    # The record's headers (CloudEvents attributes, traceparent): the function continues the
    # booking's trace from them.
    "headers": "$.detail.headers",
    "bookingId": "$.detail.value.booking.id",
    "status": "$.detail.value.booking.status",
    "encounterType": "$.detail.value.encounterType",
    "patientId": "$.detail.value.patient.id",
    "firstName": "$.detail.value.patient.firstName",
    "lastName": "$.detail.value.patient.lastName",
    "providerId": "$.detail.value.slot.providerId",
    "speciality": "$.detail.value.slot.speciality",
    "slotFrom": "$.detail.value.slot.fromDate",
    "slotTo": "$.detail.value.slot.toDate",
}


@pytest.fixture(scope="module")
def resources() -> AwsResources:
    return load_aws_resources()


def _documents() -> dict[str, Any]:
    directory = default_resources_dir()
    return {
        "buses": json.loads((directory / "buses.json").read_text()),
        "rules": [
            json.loads(path.read_text()) for path in sorted((directory / "rules").glob("*.json"))
        ],
        "queues": json.loads((directory / "queues.json").read_text()),
        "tables": json.loads((directory / "tables.json").read_text()),
    }


def _rule(resources: AwsResources, name: str) -> Any:
    (rule,) = [rule for rule in resources.rules if rule.name == name]
    return rule


def test_resources_are_read_from_deploy_eventbridge_of_the_checkout() -> None:
    directory = default_resources_dir()

    assert directory.parts[-2:] == ("deploy", "eventbridge")
    assert (directory / "README.md").is_file()


def test_both_contract_rules_live_on_the_care_plan_events_bus(resources: AwsResources) -> None:
    assert [bus.name for bus in resources.event_buses] == ["care-plan-events"]
    assert sorted((rule.name, rule.event_bus_name, rule.state) for rule in resources.rules) == [
        ("all-cancelled-care-plan-events", "care-plan-events", "ENABLED"),
        ("all-confirmed-care-plan-events", "care-plan-events", "ENABLED"),
        ("onsite-confirmed-care-plan-events", "care-plan-events", "ENABLED"),
    ]


# The contract's patterns (CONTRACT.md section 5), narrowed to the topic the booking comes from:
# the insured copy of a booking carries the same value and would be routed a second time.
ROUTED_TOPIC = {"topic": ["careplan.bookings"]}


def test_confirmed_rule_pattern_is_the_contract_pattern_on_the_bookings_topic(
    resources: AwsResources,
) -> None:
    rule = _rule(resources, "all-confirmed-care-plan-events")

    assert rule.event_pattern == {
        "detail": {**ROUTED_TOPIC, "value": {"booking": {"status": ["CONFIRMED"]}}}
    }


def test_onsite_rule_pattern_is_the_contract_pattern_on_the_bookings_topic(
    resources: AwsResources,
) -> None:
    rule = _rule(resources, "onsite-confirmed-care-plan-events")

    assert rule.event_pattern == {
        "detail": {**ROUTED_TOPIC, "value": {"encounterType": ["ONSITE"]}}
    }


def test_rules_render_to_the_put_rule_and_put_targets_requests(resources: AwsResources) -> None:
    requests = rule_requests(
        resources,
        queue_arn=lambda name: queue_arn_for(name, region="eu-west-1", account_id="111122223333"),
    )

    # The cancellation rule renders the same way: test_cancelled_rule_... below.
    rendered = [
        (r.put_rule, r.put_targets)
        for r in requests
        if r.put_rule["Name"] != "all-cancelled-care-plan-events"
    ]
    assert rendered == [
        (
            {
                "Name": "all-confirmed-care-plan-events",
                "EventBusName": "care-plan-events",
                "EventPattern": (
                    '{"detail":{"topic":["careplan.bookings"],'
                    '"value":{"booking":{"status":["CONFIRMED"]}}}}'
                ),
                "State": "ENABLED",
                "Description": (
                    "Every confirmed booking, as a notification for the patient (the Patient "
                    "Notifications function reads the queue); careplan.bookings only, because its insured copy on "
                    "careplan.bookings.insured carries the same booking and would be routed "
                    "a second time"
                ),
            },
            {
                "Rule": "all-confirmed-care-plan-events",
                "EventBusName": "care-plan-events",
                "Targets": [
                    {
                        "Id": "confirmed-care-plan-events-queue",
                        "Arn": "arn:aws:sqs:eu-west-1:111122223333:confirmed-care-plan-events-queue",
                        "InputTransformer": {
                            "InputPathsMap": NOTIFICATION_PATHS,
                            "InputTemplate": CONFIRMED_TEMPLATE,
                        },
                    }
                ],
            },
        ),
        (
            {
                "Name": "onsite-confirmed-care-plan-events",
                "EventBusName": "care-plan-events",
                "EventPattern": (
                    '{"detail":{"topic":["careplan.bookings"],"value":{"encounterType":["ONSITE"]}}}'
                ),
                "State": "ENABLED",
                "Description": (
                    "On-site bookings (confirmations and cancellations) "
                    "for the Clinic Operations function, reduced by the input transformer to "
                    "what a clinic visit records (no date of birth, gender or insurance) and "
                    "the record's headers (CloudEvents attributes and the traceparent the "
                    "function continues the trace from); "
                    "careplan.bookings only, because its insured copy on "
                    "careplan.bookings.insured carries the same booking and would be routed "
                    "a second time"
                ),
            },
            {
                "Rule": "onsite-confirmed-care-plan-events",
                "EventBusName": "care-plan-events",
                "Targets": [
                    {
                        "Id": "onsite-care-plan-events-queue",
                        "Arn": "arn:aws:sqs:eu-west-1:111122223333:onsite-care-plan-events-queue",
                        "InputTransformer": {
                            "InputPathsMap": ONSITE_PATHS,
                            "InputTemplate": ONSITE_TEMPLATE,
                        },
                    }
                ],
            },
        ),
    ]


def test_input_template_yields_the_contract_notification_shape() -> None:
    filled = (
        CONFIRMED_TEMPLATE.replace("<id>", "evt-1")
        .replace("<patientId>", "p-1")
        .replace("<bookingId>", "b-1")
        .replace("<headers>", '[{"traceparent": "00-1-2-01"}]')
    )

    notification = json.loads(filled)
    # The contract's shape; our additive data fields ride along (README: Decisions).
    assert {key: notification[key] for key in ("source", "event-type", "id")} == {
        "source": "com.providerschedule",
        "event-type": "Notification",
        "id": "evt-1",
    }
    assert {"patientId": "p-1", "bookingId": "b-1"}.items() <= notification["data"].items()


def test_cancelled_rule_notifies_through_the_same_queue_and_template(
    resources: AwsResources,
) -> None:
    cancelled = _rule(resources, "all-cancelled-care-plan-events")
    confirmed = _rule(resources, "all-confirmed-care-plan-events")

    assert cancelled.event_pattern == {
        "detail": {
            **ROUTED_TOPIC,
            "value": {"booking": {"status": ["CANCELLED_BY_PATIENT", "CANCELLED_BY_PROVIDER"]}},
        }
    }
    assert cancelled.targets == confirmed.targets


def test_every_queue_has_a_dead_letter_queue_after_three_receives(
    resources: AwsResources,
) -> None:
    assert [
        (
            q.name,
            q.visibility_timeout,
            q.dead_letter_queue.name,
            q.dead_letter_queue.max_receive_count,
        )
        for q in resources.queues
    ] == [
        ("confirmed-care-plan-events-queue", 60, "confirmed-care-plan-events-dlq", 3),
        ("onsite-care-plan-events-queue", 60, "onsite-care-plan-events-dlq", 3),
    ]


def test_onsite_queue_feeds_clinic_operations_with_partial_batch_responses(
    resources: AwsResources,
) -> None:
    mapping = resources.queue("onsite-care-plan-events-queue").event_source_mapping

    assert mapping is not None
    assert (mapping.function_name, mapping.batch_size, mapping.function_response_types) == (
        "clinic-operations",
        10,
        ("ReportBatchItemFailures",),
    )


def test_both_tables_are_keyed_by_booking_id_on_demand(resources: AwsResources) -> None:
    assert [dict(table.definition) for table in resources.tables] == [
        {
            "TableName": name,
            "AttributeDefinitions": [{"AttributeName": "bookingId", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "bookingId", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        for name in ("clinic-visits", "patient-notifications")
    ]


def test_confirmed_queue_feeds_patient_notifications_with_partial_batch_responses(
    resources: AwsResources,
) -> None:
    mapping = resources.queue("confirmed-care-plan-events-queue").event_source_mapping

    assert mapping is not None
    assert (mapping.function_name, mapping.batch_size, mapping.function_response_types) == (
        "patient-notifications",
        10,
        ("ReportBatchItemFailures",),
    )


def test_queue_policy_lets_only_the_given_rules_send() -> None:
    assert queue_policy(
        "arn:aws:sqs:us-east-1:123456789012:q",
        ["arn:aws:events:us-east-1:123456789012:rule/care-plan-events/r"],
    ) == {
        "Version": "2012-10-17",
        "Id": "arn:aws:sqs:us-east-1:123456789012:q/eventbridge",
        "Statement": [
            {
                "Sid": "AllowEventBridgeRule0",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:123456789012:q",
                "Condition": {
                    "ArnEquals": {
                        "aws:SourceArn": (
                            "arn:aws:events:us-east-1:123456789012:rule/care-plan-events/r"
                        )
                    }
                },
            }
        ],
    }


def test_target_pointing_at_an_undeclared_queue_is_rejected() -> None:
    documents = _documents()
    documents["rules"][0]["Targets"][0]["Queue"] = "typo-queue"

    with pytest.raises(ResourceDefinitionError, match="unknown queue typo-queue"):
        parse_aws_resources(**documents)


def test_template_placeholder_missing_from_the_paths_map_is_rejected() -> None:
    documents = copy.deepcopy(_documents())
    del documents["rules"][0]["Targets"][0]["InputTransformer"]["InputPathsMap"]["bookingId"]

    with pytest.raises(ResourceDefinitionError, match="bookingId"):
        parse_aws_resources(**documents)


def test_empty_event_pattern_is_rejected_because_it_matches_everything() -> None:
    documents = _documents()
    documents["rules"][1]["EventPattern"] = {}

    with pytest.raises(ResourceDefinitionError, match="empty EventPattern"):
        parse_aws_resources(**documents)


def test_redrive_without_max_receive_count_is_rejected() -> None:
    documents = _documents()
    del documents["queues"]["Queues"][0]["DeadLetterQueue"]["MaxReceiveCount"]

    with pytest.raises(ResourceDefinitionError, match="MaxReceiveCount"):
        parse_aws_resources(**documents)


def test_a_count_written_as_true_is_rejected() -> None:
    documents = copy.deepcopy(_documents())
    documents["queues"]["Queues"][0]["DeadLetterQueue"]["MaxReceiveCount"] = True

    with pytest.raises(ResourceDefinitionError, match="MaxReceiveCount"):
        parse_aws_resources(**documents)


def test_a_retention_beyond_what_sqs_allows_is_rejected_offline() -> None:
    documents = copy.deepcopy(_documents())
    documents["queues"]["Queues"][0]["MessageRetentionPeriod"] = 1_209_601

    with pytest.raises(ResourceDefinitionError, match="MessageRetentionPeriod"):
        parse_aws_resources(**documents)


def test_a_table_that_is_not_on_demand_is_rejected() -> None:
    documents = copy.deepcopy(_documents())
    documents["tables"]["Tables"][0]["BillingMode"] = "PROVISIONED"

    with pytest.raises(ResourceDefinitionError, match="BillingMode"):
        parse_aws_resources(**documents)
