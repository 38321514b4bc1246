from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings.kafka import to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from eventing.cloudevents import Event, KafkaRecord, MalformedEventError, from_record, to_record

AVAILABILITY_DATA = {
    "id": "0b8e5a2c-6a43-4e0e-9d2f-1f0d5f7b9a11",
    "provider": {
        "id": "7d1c8e7e-3a37-4b4e-8c65-0a3c2c7b8f01",
        "firstName": "John",
        "lastName": "Doe",
        "speciality": "Dentist",
        "gender": "MALE",
    },
    "availability": {
        "id": "5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f",
        "fromDate": "2026-12-01T09:00:00+00:00",
        "toDate": "2026-12-01T09:30:00+00:00",
        "encounterType": "ONSITE",
    },
}

# What the Java SDK's CloudEventSerializer (binary mode) puts on the wire for this event.
JAVA_BINARY_RECORD = KafkaRecord(
    key=b"5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f",
    value=(
        b'{"id":"0b8e5a2c-6a43-4e0e-9d2f-1f0d5f7b9a11","provider":{"id":'
        b'"7d1c8e7e-3a37-4b4e-8c65-0a3c2c7b8f01","firstName":"John","lastName":"Doe",'
        b'"speciality":"Dentist","gender":"MALE"},"availability":{"id":'
        b'"5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f","fromDate":"2026-12-01T09:00:00+00:00",'
        b'"toDate":"2026-12-01T09:30:00+00:00","encounterType":"ONSITE"}}'
    ),
    headers=[
        ("ce_id", b"0b8e5a2c-6a43-4e0e-9d2f-1f0d5f7b9a11"),
        ("ce_source", b"/provider-schedule"),
        ("ce_type", b"AVAILABILITY_CREATED"),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
        ("ce_time", b"2026-11-25T10:15:30Z"),
    ],
)

EVENT = Event(
    id="0b8e5a2c-6a43-4e0e-9d2f-1f0d5f7b9a11",
    source="/provider-schedule",
    type="AVAILABILITY_CREATED",
    data=AVAILABILITY_DATA,
    key="5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f",
    time=datetime(2026, 11, 25, 10, 15, 30, tzinfo=UTC),
)


def test_event_is_written_in_binary_mode_with_java_sdk_header_names() -> None:
    record = to_record(EVENT)

    assert record.key == JAVA_BINARY_RECORD.key
    assert record.value == JAVA_BINARY_RECORD.value
    assert sorted(record.headers) == sorted(JAVA_BINARY_RECORD.headers)


def test_binary_record_written_by_java_is_read() -> None:
    event = from_record(
        JAVA_BINARY_RECORD.key, JAVA_BINARY_RECORD.value, JAVA_BINARY_RECORD.headers
    )

    assert event == EVENT


def test_round_trip_keeps_every_attribute() -> None:
    original = Event(
        id="e-1",
        source="/care-plan",
        type="BOOKING_CONFIRMED",
        data={"booking": {"id": "b-1"}},
        key="b-1",
        subject="booking/b-1",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    record = to_record(original)

    assert from_record(record.key, record.value, record.headers) == original
    assert ("ce_subject", b"booking/b-1") in record.headers
    assert ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") in (
        record.headers
    )


def test_structured_mode_record_is_read() -> None:
    value = (
        b'{"specversion":"1.0","id":"s-1","source":"/care-plan","type":"BOOKING_CANCELLED",'
        b'"time":"2026-11-25T10:15:30Z","datacontenttype":"application/json",'
        b'"data":{"booking":{"id":"b-9"}}}'
    )
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]

    event = from_record(b"b-9", value, headers)

    assert event == Event(
        id="s-1",
        source="/care-plan",
        type="BOOKING_CANCELLED",
        data={"booking": {"id": "b-9"}},
        key="b-9",
        time=datetime(2026, 11, 25, 10, 15, 30, tzinfo=UTC),
    )


def test_unknown_headers_are_ignored() -> None:
    headers = [*JAVA_BINARY_RECORD.headers, ("x-tenant", b"acme"), ("kafka_null", None)]

    event = from_record(JAVA_BINARY_RECORD.key, JAVA_BINARY_RECORD.value, headers)

    assert event.id == EVENT.id


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (b"not json at all", [("content-type", b"application/cloudevents+json")]),
        (b'{"id":"x"}', []),
        (
            b"plain text",
            [
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_type", b"T"),
                ("ce_specversion", b"1.0"),
                ("content-type", b"application/json"),
            ],
        ),
        (
            b'{"a":1}',
            [("ce_id", b"1"), ("ce_specversion", b"1.0"), ("content-type", b"application/json")],
        ),
        (
            None,
            [("ce_id", b"1"), ("ce_source", b"/s"), ("ce_type", b"T"), ("ce_specversion", b"1.0")],
        ),
    ],
    ids=["garbage", "no-attributes", "data-not-json", "missing-source-and-type", "no-value"],
)
def test_records_that_are_not_cloudevents_are_rejected_as_malformed(
    value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    with pytest.raises(MalformedEventError):
        from_record(b"k", value, headers)


def _sdk_record(event: Event) -> list[tuple[str, bytes]]:
    """What the CloudEvents SDK's Kafka binding writes for the same event."""
    attributes: dict[str, object] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    if event.time is not None:
        attributes["time"] = event.time
    if event.subject is not None:
        attributes["subject"] = event.subject
    message = to_binary(CloudEvent(attributes=attributes, data=event.data), JSONFormat())
    return list(message.headers.items())


@pytest.mark.parametrize(
    "event",
    [
        EVENT,
        Event.new(source="/care-plan", type="BOOKING_CONFIRMED", data={"é": "ü"}, key=None),
        Event(id="x", source="/s", type="T", data={}, subject="slot-1",
              time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))),
        Event(id="y", source="/s", type="T", data={"n": 1.5}, time=None),
    ],
)  # fmt: skip
def test_headers_are_the_ones_the_cloudevents_sdk_writes(event: Event) -> None:
    ours, sdk = to_record(event).headers, _sdk_record(event)
    if event.time is None:  # both stamp the time of writing: compare its form only
        ours, sdk = [h for h in ours if h[0] != "ce_time"], [h for h in sdk if h[0] != "ce_time"]
        assert dict(to_record(event).headers)["ce_time"].endswith(b"Z")
    assert ours == sdk


def test_with_traceparent_keeps_every_other_field() -> None:
    """Against dataclasses.replace over every field set: a field added to Event and not
    copied by with_traceparent fails here."""
    event = Event(
        id="e-1",
        source="/provider-schedule",
        type="AVAILABILITY_CREATED",
        data={"id": "a-1"},
        key="slot-1",
        subject="slot-1",
        time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    assert all(getattr(event, field.name) is not None for field in fields(Event))
    moved = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00"

    assert event.with_traceparent(moved) == replace(event, traceparent=moved)
    assert event.with_traceparent(None) == replace(event, traceparent=None)
