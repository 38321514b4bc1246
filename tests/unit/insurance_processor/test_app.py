"""The processing step on its own: where each kind of record goes, with a fake state store."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quixstreams.context import set_message_context
from quixstreams.models import MessageContext

from eventing.dead_letter import DeadLetterReason
from insurance_processor.app import BookingRouter, Destination, OutgoingRecord
from insurance_processor.metrics import Outcome, ProcessorMetrics
from insurance_processor.serialization import (
    MalformedEventError,
    MalformedRecord,
    read_cloud_event,
)
from tests.unit.insurance_processor.samples import BOOKING_ID, VALID_INSURANCE, booking_event

INPUT_ID = "5e8f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


class FakeState:
    def __init__(self) -> None:
        self.values: dict[Any, tuple[Any, timedelta | None]] = {}

    def exists(self, key: Any) -> bool:
        return key in self.values

    def set_bytes(self, key: Any, value: bytes, ttl: timedelta | None = None) -> None:
        self.values[key] = (value, ttl)


def headers(
    event_type: str = "BOOKING_CONFIRMED", ce_id: str = INPUT_ID
) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_source", b"/care-plan"),
        ("ce_type", event_type.encode()),
        ("ce_time", b"2026-11-25T10:00:00Z"),
        ("content-type", b"application/json"),
    ]


@pytest.fixture
def metrics() -> ProcessorMetrics:
    return ProcessorMetrics()


@pytest.fixture
def route(metrics: ProcessorMetrics) -> BookingRouter:
    set_message_context(MessageContext("careplan.bookings", partition=3, offset=41, size=100))
    return BookingRouter(
        consumer_group="insurance-processor", dedup_ttl=timedelta(days=7), metrics=metrics
    )


def test_covered_booking_goes_to_the_insured_topic_in_binary_mode(
    route: BookingRouter, metrics: ProcessorMetrics
) -> None:
    value = json.dumps(booking_event(insurance=VALID_INSURANCE)).encode()
    state = FakeState()

    record = route(read_cloud_event(value, headers()), BOOKING_ID.encode(), 1, headers(), state)

    assert isinstance(record, OutgoingRecord)
    assert record.destination is Destination.INSURED
    assert record.key == BOOKING_ID.encode()
    assert record.headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"57db7ae9-f04d-57a9-bca1-e3645b690c44"),
        ("ce_source", b"/insurance-processor"),
        ("ce_type", b"BOOKING_CONFIRMED"),
        ("ce_time", b"2026-11-25T10:00:00Z"),
        ("content-type", b"application/json"),
    ]
    assert record.value is not None
    assert json.loads(record.value)["coverage"]["memberId"] == "M-123456"
    assert state.values == {
        f"BOOKING_CONFIRMED:{BOOKING_ID}".encode(): (INPUT_ID.encode(), timedelta(days=7)),
    }
    assert metrics.insured == 1


def test_second_copy_of_an_emitted_booking_event_is_dropped(
    route: BookingRouter, metrics: ProcessorMetrics
) -> None:
    value = json.dumps(booking_event(insurance=VALID_INSURANCE)).encode()
    state = FakeState()
    event = read_cloud_event(value, headers())
    republished_under_new_id = read_cloud_event(value, headers(ce_id="another-id"))

    first = route(event, BOOKING_ID.encode(), 1, headers(), state)
    second = route(event, BOOKING_ID.encode(), 2, headers(), state)
    third = route(republished_under_new_id, BOOKING_ID.encode(), 3, headers(), state)

    assert first is not None
    assert (second, third) == (None, None)
    assert (metrics.insured, metrics.duplicates) == (1, 2)


def test_cancellation_after_confirmation_is_not_a_duplicate(route: BookingRouter) -> None:
    state = FakeState()
    confirmed = json.dumps(booking_event(insurance=VALID_INSURANCE)).encode()
    cancelled = json.dumps(
        booking_event(status="CANCELLED_BY_PATIENT", insurance=VALID_INSURANCE)
    ).encode()

    route(read_cloud_event(confirmed, headers()), None, 1, headers(), state)
    record = route(
        read_cloud_event(cancelled, headers("BOOKING_CANCELLED", "cancel-id")),
        None,
        2,
        headers("BOOKING_CANCELLED", "cancel-id"),
        state,
    )

    assert record is not None
    assert ("ce_type", b"BOOKING_CANCELLED") in record.headers


def test_uncovered_and_other_type_records_touch_no_state(
    route: BookingRouter, metrics: ProcessorMetrics
) -> None:
    state = FakeState()
    self_pay = json.dumps(booking_event(payment_mode="SELF_PAY")).encode()
    rejected = json.dumps(booking_event(status="REJECTED", insurance=VALID_INSURANCE)).encode()

    assert route(read_cloud_event(self_pay, headers()), None, 1, headers(), state) is None
    rejected_headers = headers("BOOKING_REJECTED")
    assert (
        route(read_cloud_event(rejected, rejected_headers), None, 1, rejected_headers, state)
        is None
    )
    assert state.values == {}
    assert (metrics.not_insured, metrics.other_types) == (1, 1)


def test_record_that_is_not_a_cloudevent_is_parked_with_headers_saying_why(
    route: BookingRouter, metrics: ProcessorMetrics
) -> None:
    original_headers = [("x-origin", b"fuzzer")]
    malformed = MalformedRecord(b"{not json", MalformedEventError("the value is not JSON"))

    record = route(malformed, b"k", 1764579600123, original_headers, FakeState())

    assert record is not None
    assert record.destination is Destination.DEAD_LETTER
    assert (record.key, record.value) == (b"k", b"{not json")
    parked = dict(record.headers)
    assert parked["x-origin"] == b"fuzzer"
    assert parked["dlt-reason"] == b"malformed"
    assert parked["dlt-exception"] == b"MalformedEventError"
    assert parked["dlt-exception-message"] == b"the value is not JSON"
    assert parked["dlt-original-topic"] == b"careplan.bookings"
    assert parked["dlt-original-partition"] == b"3"
    assert parked["dlt-original-offset"] == b"41"
    assert parked["dlt-original-timestamp"] == b"1764579600123"
    assert parked["dlt-consumer-group"] == b"insurance-processor"
    assert metrics.dead_lettered["malformed"] == 1


def test_booking_event_that_does_not_fit_the_contract_is_parked_byte_for_byte(
    route: BookingRouter,
) -> None:
    value = b'{"booking": {"id": "not-a-uuid"}}'

    record = route(read_cloud_event(value, headers()), b"k", 1, headers(), FakeState())

    assert record is not None
    assert record.destination is Destination.DEAD_LETTER
    assert record.value == value
    assert dict(record.headers)["dlt-exception"] == b"ValidationError"
    assert dict(record.headers)["ce_id"] == INPUT_ID.encode()


def test_record_the_routing_code_fails_on_is_parked_as_a_permanent_failure(
    route: BookingRouter, metrics: ProcessorMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("insurance_processor.app.insure", broken)
    value = json.dumps(booking_event(insurance=VALID_INSURANCE)).encode()

    record = route(read_cloud_event(value, headers()), b"k", 1, headers(), FakeState())

    assert record is not None
    assert record.destination is Destination.DEAD_LETTER
    assert dict(record.headers)["dlt-reason"] == b"permanent-failure"
    assert dict(record.headers)["dlt-exception"] == b"ZeroDivisionError"
    assert metrics.dead_lettered["permanent-failure"] == 1


def test_record_without_a_value_is_parked(route: BookingRouter) -> None:
    record = route(None, b"k", 1, [], FakeState())

    assert record is not None
    assert record.destination is Destination.DEAD_LETTER
    assert record.value is None
    assert dict(record.headers)["dlt-exception-message"] == b"the record has no value"


def test_metrics_are_rendered_in_prometheus_text_format() -> None:
    metrics = ProcessorMetrics()
    for outcome, times in ((Outcome.INSURED, 3), (Outcome.NOT_INSURED, 2), (Outcome.DUPLICATE, 4)):
        for _ in range(times):
            metrics.count(outcome)
    for _ in range(5):
        metrics.count_parked(DeadLetterReason.MALFORMED)

    samples = {
        (sample.labels["outcome"], sample.labels["reason"]): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
        if sample.name == "insurance_processor_records_total"
    }
    assert samples == {
        ("insured", ""): 3,
        ("not_insured", ""): 2,
        ("other_type", ""): 0,
        ("duplicate", ""): 4,
        ("dead_lettered", "malformed"): 5,
        ("dead_lettered", "permanent-failure"): 0,
    }
    assert (metrics.insured, metrics.duplicates, metrics.dead_lettered["malformed"]) == (3, 4, 5)


def test_two_processors_count_apart() -> None:
    first, second = ProcessorMetrics(), ProcessorMetrics()
    first.count(Outcome.INSURED)

    assert (first.insured, second.insured) == (1, 0)
