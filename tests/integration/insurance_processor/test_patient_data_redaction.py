"""Patient data stays out of the Insurance Processor's log and dead-letter headers: booking
events that break the contract on a patient field, a structured event that is not JSON and a
record that is no CloudEvent, all carrying planted values, are parked without repeating them.

The processor runs as `careplan up` runs it, so its log is the JSON its process writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from contract.topics import dead_letter_topic
from devstack.settings import DevstackSettings
from tests.integration.insurance_processor.test_app import (  # noqa: F401 - fixtures
    Processor,
    Setup,
    headers_of,
    setup,
    start,
)
from tests.support.kafka import read_to_end, wait_until_committed_to_end
from tests.support.patient_data import (
    FIRST_NAME,
    header_texts,
    leaked_values,
    planted_patient,
)

pytestmark = pytest.mark.integration

BINARY_HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_source", b"/care-plan"),
    ("ce_type", b"BOOKING_CONFIRMED"),
    ("content-type", b"application/json"),
]


def booking_with_planted_patient() -> dict[str, object]:
    patient_id = str(uuid.uuid4())
    return {
        "booking": {
            "id": str(uuid.uuid4()),
            "providerAvailabilityId": str(uuid.uuid4()),
            "patientId": patient_id,
            "status": "CONFIRMED",
            "paymentMode": "INSURANCE_PAY",
        },
        "patient": planted_patient(patient_id),
        "encounterType": "ONSITE",
    }


def test_no_planted_patient_value_reaches_its_log_or_a_dead_letter_header(
    infrastructure: DevstackSettings,
    setup: Setup,  # noqa: F811 - the fixture imported above
    start: Callable[[], Processor],  # noqa: F811
) -> None:
    processor = start()
    booking = booking_with_planted_patient()
    # The contract's shape with an impossible date of birth: pydantic's error has input_value.
    setup.input.raw(
        b"planted-binary",
        json.dumps(booking).encode(),
        [*BINARY_HEADERS, ("ce_id", str(uuid.uuid4()).encode())],
    )
    # Structured mode whose JSON breaks off after the patient's name.
    setup.input.raw(
        b"planted-structured",
        json.dumps({"specversion": "1.0", "data": booking})[:200].encode(),
        [("content-type", b"application/cloudevents+json")],
    )
    # No CloudEvent at all.
    setup.input.raw(b"planted-raw", f'{{"firstName": "{FIRST_NAME}"'.encode(), [])
    setup.input.flush()

    wait_until_committed_to_end(
        infrastructure, setup.environment["CONSUMER_GROUP"], setup.input.topic
    )
    parked = read_to_end(infrastructure, dead_letter_topic(setup.input.topic))
    assert processor.terminate() == 0
    log = setup.log.read_text(errors="replace").splitlines()

    assert sorted(m.key() for m in parked) == [
        b"planted-binary",
        b"planted-raw",
        b"planted-structured",
    ]
    assert sum("parked a record in the dead-letter topic" in line for line in log) == 3
    assert leaked_values(log) == []
    headers = [value for m in parked for value in header_texts(m.headers() or [])]
    assert leaked_values(headers) == []
    assert headers_of(parked[0])["dlt-reason"] == b"malformed"
