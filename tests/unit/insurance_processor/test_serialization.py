"""The processor's CloudEvents mapping: binary and structured records in, binary headers out."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError
from quixstreams.models import SerializationContext

from contract.events import EventType
from eventing.cloudevents import Event, to_record
from insurance_processor.serialization import (
    CloudEvent,
    CloudEventDeserializer,
    MalformedEventError,
    MalformedRecord,
    binary_headers,
    read_booking_event,
    read_cloud_event,
)
from tests.unit.insurance_processor.samples import VALID_INSURANCE, booking_event

DATA = booking_event(insurance=VALID_INSURANCE)
VALUE = json.dumps(DATA).encode()
BINARY_HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
    ("ce_source", b"/care-plan"),
    ("ce_type", b"BOOKING_CONFIRMED"),
    ("ce_time", b"2026-11-25T10:00:00Z"),
    ("content-type", b"application/json"),
    ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
]


def test_binary_mode_record_is_read_with_its_attributes_and_undecoded_data() -> None:
    event = read_cloud_event(VALUE, BINARY_HEADERS)

    assert event == CloudEvent(
        id="5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        source="/care-plan",
        type="BOOKING_CONFIRMED",
        data=VALUE,
        time="2026-11-25T10:00:00Z",
        subject=None,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    assert event.record_value is VALUE
    assert read_booking_event(event).booking.payment_mode == "INSURANCE_PAY"


def test_what_the_eventing_library_writes_is_read() -> None:
    record = to_record(Event.new(source="/care-plan", type="BOOKING_CANCELLED", data=DATA, key="k"))

    event = read_cloud_event(record.value, record.headers)

    assert event.type == EventType.BOOKING_CANCELLED
    assert event.source == "/care-plan"
    assert read_booking_event(event) == read_booking_event(read_cloud_event(VALUE, BINARY_HEADERS))


def test_header_names_are_matched_case_insensitively_and_unknown_headers_ignored() -> None:
    headers = [(name.upper(), raw) for name, raw in BINARY_HEADERS] + [
        ("x-binary-trace", b"\xff\xfe"),
        ("x-null", None),
    ]

    event = read_cloud_event(VALUE, headers)

    assert event.id == "5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


def test_structured_mode_record_is_read() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/care-plan",
        "type": "BOOKING_CONFIRMED",
        "subject": "booking",
        "datacontenttype": "application/json",
        "data": DATA,
        "unknownextension": "ignored",
    }
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]

    event = read_cloud_event(json.dumps(envelope).encode(), headers)

    assert (event.id, event.type, event.subject, event.data) == (
        "e-1",
        "BOOKING_CONFIRMED",
        "booking",
        DATA,
    )
    assert (
        read_booking_event(event).booking.id
        == read_booking_event(read_cloud_event(VALUE, BINARY_HEADERS)).booking.id
    )


def test_structured_mode_with_base64_data_is_read() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "e-2",
        "source": "/care-plan",
        "type": "BOOKING_CONFIRMED",
        "data_base64": base64.b64encode(VALUE).decode(),
    }

    event = read_cloud_event(json.dumps(envelope).encode(), None)

    assert event.data == DATA


@pytest.mark.parametrize(
    ("value", "headers", "message"),
    [
        (b"{not json", [("x-origin", b"fuzzer")], "not JSON"),
        (b"[1, 2]", [], "not a JSON object"),
        (None, [], "no value"),
        (VALUE, [("ce_id", b"1"), ("ce_source", b"/s"), ("ce_type", b"T")], "ce_specversion"),
        (VALUE, [("ce_specversion", b"0.3"), ("ce_id", b"1")], "ce_specversion"),
        (VALUE, [("ce_specversion", b"1.0"), ("ce_source", b"/s"), ("ce_type", b"T")], "ce_id"),
        (
            VALUE,
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/s"), ("ce_type", b"")],
            "ce_type",
        ),
        (
            VALUE,
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"\xff"),
                ("ce_source", b"/s"),
                ("ce_type", b"T"),
            ],
            "not UTF-8",
        ),
        (
            VALUE,
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_type", b"T"),
                ("content-type", b"application/avro"),
            ],
            "not JSON",
        ),
        (
            json.dumps({"specversion": "1.0", "id": "1", "source": "/s", "type": "T"}).encode(),
            [("content-type", b"application/cloudevents+json")],
            "data is not a JSON object",
        ),
    ],
)
def test_records_that_are_not_cloudevents_are_malformed(
    value: bytes | None, headers: list[tuple[str, bytes]], message: str
) -> None:
    with pytest.raises(MalformedEventError, match=message):
        read_cloud_event(value, headers)


def test_data_that_does_not_fit_the_booking_event_fails_validation() -> None:
    event = read_cloud_event(b'{"booking": {"id": "not-a-uuid"}}', BINARY_HEADERS)

    with pytest.raises(ValidationError):
        read_booking_event(event)


def test_deserializer_hands_on_a_malformed_record_instead_of_raising() -> None:
    deserialize = CloudEventDeserializer()

    result = deserialize(
        b"{not json", SerializationContext("careplan.bookings", "value", [("x", b"y")])
    )

    assert isinstance(result, MalformedRecord)
    assert result.value == b"{not json"
    assert "not JSON" in str(result.error)


def test_binary_headers_are_written_as_the_java_sdk_names_them() -> None:
    assert binary_headers(
        id="57db7ae9-f04d-57a9-bca1-e3645b690c44",
        source="/insurance-processor",
        type="BOOKING_CONFIRMED",
        time="2026-11-25T10:00:00Z",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ) == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"57db7ae9-f04d-57a9-bca1-e3645b690c44"),
        ("ce_source", b"/insurance-processor"),
        ("ce_type", b"BOOKING_CONFIRMED"),
        ("ce_time", b"2026-11-25T10:00:00Z"),
        ("content-type", b"application/json"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]
    assert binary_headers(id="i", source="/s", type="T") == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"i"),
        ("ce_source", b"/s"),
        ("ce_type", b"T"),
        ("content-type", b"application/json"),
    ]
