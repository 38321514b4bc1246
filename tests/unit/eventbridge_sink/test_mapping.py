"""The sink's PutEvents entries, written out as the EventBridge Kafka connector produces them."""

from __future__ import annotations

import json

import pytest

from eventbridge_sink.mapping import KafkaRecord, UnmappableRecordError, to_put_events_entry

BOOKING_VALUE = (
    b'{"booking":{"id":"9b2f6c1e-8c1d-4b7e-9a51-3f1f3c2d4e5a",'
    b'"providerAvailabilityId":"4a7d2c9e-1f3b-4c5d-8e6f-7a8b9c0d1e2f",'
    b'"patientId":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","status":"CONFIRMED",'
    b'"paymentMode":"INSURANCE_PAY"},'
    b'"patient":{"id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","firstName":"Zo\xc3\xab",'
    b'"lastName":"Doe","gender":"FEMALE","dateOfBirth":"1991-08-06"},'
    b'"encounterType":"ONSITE",'
    b'"slot":{"fromDate":"2026-12-01T09:00:00+00:00","toDate":"2026-12-01T09:30:00+00:00",'
    b'"providerId":"0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0","speciality":"Dentist"}}'
)

CONFIRMED_RECORD = KafkaRecord(
    topic="careplan.bookings",
    partition=2,
    offset=41,
    timestamp_ms=1764579600123,
    headers=[
        ("ce_specversion", b"1.0"),
        ("ce_id", b"5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("ce_source", b"/care-plan"),
        ("ce_type", b"BOOKING_CONFIRMED"),
        ("content-type", b"application/json"),
    ],
    key=b"9b2f6c1e-8c1d-4b7e-9a51-3f1f3c2d4e5a",
    value=BOOKING_VALUE,
)


def test_confirmed_booking_record_maps_to_connector_shaped_entry() -> None:
    entry = to_put_events_entry(
        CONFIRMED_RECORD, connector_id="care-plan-sink", event_bus_name="care-plan-events"
    )

    assert entry == {
        "Source": "kafka-connect.care-plan-sink",
        "DetailType": "kafka-connect-careplan.bookings",
        "EventBusName": "care-plan-events",
        "Detail": (
            '{"topic":"careplan.bookings","partition":2,"offset":41,'
            '"timestamp":1764579600123,"timestampType":"CreateTime",'
            '"headers":[{"ce_specversion":"1.0"},'
            '{"ce_id":"5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},'
            '{"ce_source":"/care-plan"},{"ce_type":"BOOKING_CONFIRMED"},'
            '{"content-type":"application/json"}],'
            '"key":"9b2f6c1e-8c1d-4b7e-9a51-3f1f3c2d4e5a",'
            '"value":{"booking":{"id":"9b2f6c1e-8c1d-4b7e-9a51-3f1f3c2d4e5a",'
            '"providerAvailabilityId":"4a7d2c9e-1f3b-4c5d-8e6f-7a8b9c0d1e2f",'
            '"patientId":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","status":"CONFIRMED",'
            '"paymentMode":"INSURANCE_PAY"},'
            '"patient":{"id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","firstName":"Zoë",'
            '"lastName":"Doe","gender":"FEMALE","dateOfBirth":"1991-08-06"},'
            '"encounterType":"ONSITE",'
            '"slot":{"fromDate":"2026-12-01T09:00:00+00:00",'
            '"toDate":"2026-12-01T09:30:00+00:00",'
            '"providerId":"0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0","speciality":"Dentist"}}}'
        ),
    }


def test_value_is_embedded_as_json_not_as_a_string() -> None:
    entry = to_put_events_entry(
        CONFIRMED_RECORD, connector_id="care-plan-sink", event_bus_name="care-plan-events"
    )

    detail = json.loads(entry["Detail"])
    assert detail["value"]["booking"]["status"] == "CONFIRMED"
    assert detail["value"]["encounterType"] == "ONSITE"


def test_null_key_and_tombstone_become_json_null() -> None:
    record = KafkaRecord(
        topic="careplan.bookings.insured",
        partition=0,
        offset=7,
        timestamp_ms=1764579600000,
        headers=[],
        key=None,
        value=None,
    )

    entry = to_put_events_entry(record, connector_id="sink-1", event_bus_name="care-plan-events")

    assert entry == {
        "Source": "kafka-connect.sink-1",
        "DetailType": "kafka-connect-careplan.bookings.insured",
        "EventBusName": "care-plan-events",
        "Detail": (
            '{"topic":"careplan.bookings.insured","partition":0,"offset":7,'
            '"timestamp":1764579600000,"timestampType":"CreateTime",'
            '"headers":[],"key":null,"value":null}'
        ),
    }


def test_repeated_null_and_non_utf8_headers_keep_their_order() -> None:
    record = KafkaRecord(
        topic="careplan.bookings",
        partition=1,
        offset=0,
        timestamp_ms=None,
        headers=[("trace", b"a"), ("empty", None), ("trace", b"b"), ("raw", b"\xff1")],
        key=b"k",
        value=b"[1,2.5,true]",
    )

    entry = to_put_events_entry(record, connector_id="c", event_bus_name="bus")

    assert entry["Detail"] == (
        '{"topic":"careplan.bookings","partition":1,"offset":0,'
        '"timestamp":null,"timestampType":"CreateTime",'
        '"headers":[{"trace":"a"},{"empty":null},{"trace":"b"},{"raw":"\ufffd1"}],'
        '"key":"k","value":[1,2.5,true]}'
    )


def test_detail_type_template_and_bus_arn_are_configurable() -> None:
    entry = to_put_events_entry(
        CONFIRMED_RECORD,
        connector_id="care-plan-sink",
        event_bus_name="arn:aws:events:eu-west-1:123456789012:event-bus/care-plan-events",
        detail_type="booking-${topic}-v1",
    )

    assert entry["DetailType"] == "booking-careplan.bookings-v1"
    assert entry["EventBusName"] == (
        "arn:aws:events:eu-west-1:123456789012:event-bus/care-plan-events"
    )


def test_value_that_is_not_json_cannot_be_mapped() -> None:
    record = KafkaRecord(
        topic="careplan.bookings",
        partition=0,
        offset=3,
        timestamp_ms=1,
        headers=[],
        key=b"k",
        value=b"BOOKING_CONFIRMED 9b2f6c1e",
    )

    with pytest.raises(UnmappableRecordError, match=r"careplan\.bookings\[0\]@3"):
        to_put_events_entry(record, connector_id="c", event_bus_name="bus")
