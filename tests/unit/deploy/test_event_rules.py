"""The shipped rules route each booking once, although the sink puts it on the bus twice.

The sink forwards ``careplan.bookings`` and ``careplan.bookings.insured``; an insured event is
the booking event plus ``coverage``, so a rule that looks only at the value matches both copies
(two notifications, two visits' worth of messages). The entries below are built by the code
that builds them in production (the Insurance Processor's ``insure``, the sink's mapping) and
matched by moto's EventBridge pattern matcher, the one the local platform routes with.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from moto.events.models import EventPattern
from moto.events.utils import EventTemplateParser

from clinic_operations.logic import decide as clinic_decide
from contract import topics
from contract.events import (
    BookingEvent,
    BookingSnapshot,
    BookingStatus,
    EncounterType,
    EventType,
    Insurance,
    PatientSnapshot,
    PaymentMode,
    Slot,
)
from devstack.aws_bootstrap import load_aws_resources
from eventbridge_sink.mapping import KafkaRecord, to_put_events_entry
from eventbridge_sink.settings import SinkSettings
from insurance_processor.transforms import insure
from patient_notifications.logic import Kind, decide
from telemetry.connector import traceparent_in_body

RULES = {rule.name: rule for rule in load_aws_resources().rules}


def booking_event(status: BookingStatus, encounter: EncounterType) -> BookingEvent:
    patient_id = uuid.uuid4()
    return BookingEvent(
        booking=BookingSnapshot(
            id=uuid.uuid4(),
            provider_availability_id=uuid.uuid4(),
            patient_id=patient_id,
            status=status,
            payment_mode=PaymentMode.INSURANCE_PAY,
        ),
        patient=PatientSnapshot(
            id=patient_id,
            first_name="Ada",
            last_name="Lovelace",
            gender="FEMALE",
            date_of_birth=date(1991, 8, 6),
            insurance=Insurance(
                payer="Acme Health", member_id="M-1", plan="GOLD", valid_until=date(2035, 12, 31)
            ),
        ),
        encounter_type=encounter,
        slot=Slot(
            from_date=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
            to_date=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
            provider_id=uuid.uuid4(),
            speciality="Dentist",
        ),
    )


# The booking's trace context, as the record that became the event carries it.
RECORD_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def bus_event(topic: str, value: bytes, offset: int) -> dict[str, Any]:
    """What a rule sees: the sink's PutEvents entry as EventBridge wraps it."""
    settings = SinkSettings()
    headers = [("ce_type", b"BOOKING_CONFIRMED"), ("traceparent", RECORD_TRACEPARENT.encode())]
    entry = to_put_events_entry(
        KafkaRecord(topic, 0, offset, 1764579600000, headers, b"key", value),
        connector_id=settings.connector_id,
        event_bus_name=settings.event_bus_name,
    )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-12-01T09:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }


def both_copies(status: BookingStatus, encounter: EncounterType) -> list[dict[str, Any]]:
    """One covered booking event as the sink forwards it: from both topics it reads."""
    event = booking_event(status, encounter)
    event_type = (
        EventType.BOOKING_CONFIRMED
        if status is BookingStatus.CONFIRMED
        else EventType.BOOKING_CANCELLED
    )
    insured = insure(event_type, event)
    assert insured is not None, "the fixture must be a covered booking"
    assert set(SinkSettings().topics) == {
        topics.CAREPLAN_BOOKINGS,
        topics.CAREPLAN_BOOKINGS_INSURED,
    }
    return [
        bus_event(topics.CAREPLAN_BOOKINGS, json.dumps(event.to_json_dict()).encode(), 1),
        bus_event(
            topics.CAREPLAN_BOOKINGS_INSURED,
            insured.model_dump_json(by_alias=True).encode(),
            2,
        ),
    ]


def routed(rule_name: str, events: list[dict[str, Any]]) -> list[str]:
    """The topics of the copies the rule routes (each one is a message on its queue)."""
    pattern = EventPattern.load(json.dumps(RULES[rule_name].event_pattern))
    return [e["detail"]["topic"] for e in events if pattern.matches_event(e)]


@pytest.mark.parametrize("encounter", [EncounterType.ONSITE, EncounterType.VIRTUAL])
def test_a_confirmed_insured_booking_makes_one_notification(encounter: EncounterType) -> None:
    copies = both_copies(BookingStatus.CONFIRMED, encounter)
    assert routed("all-confirmed-care-plan-events", copies) == [topics.CAREPLAN_BOOKINGS]


def test_a_confirmed_insured_onsite_booking_reaches_the_clinic_queue_once() -> None:
    copies = both_copies(BookingStatus.CONFIRMED, EncounterType.ONSITE)
    assert routed("onsite-confirmed-care-plan-events", copies) == [topics.CAREPLAN_BOOKINGS]


def test_a_cancelled_insured_onsite_booking_reaches_the_clinic_queue_once() -> None:
    copies = both_copies(BookingStatus.CANCELLED_BY_PATIENT, EncounterType.ONSITE)
    assert routed("onsite-confirmed-care-plan-events", copies) == [topics.CAREPLAN_BOOKINGS]
    assert routed("all-confirmed-care-plan-events", copies) == []
    assert routed("all-cancelled-care-plan-events", copies) == [topics.CAREPLAN_BOOKINGS]


NOTIFICATION_RULES = ("all-confirmed-care-plan-events", "all-cancelled-care-plan-events")


@pytest.mark.parametrize("encounter", [EncounterType.ONSITE, EncounterType.VIRTUAL])
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (BookingStatus.CONFIRMED, Kind.CONFIRMATION),
        (BookingStatus.CANCELLED_BY_PATIENT, Kind.CANCELLATION),
        (BookingStatus.CANCELLED_BY_PROVIDER, Kind.CANCELLATION),
    ],
)
def test_each_booking_event_makes_one_notification_the_function_understands(
    status: BookingStatus, kind: Kind, encounter: EncounterType
) -> None:
    """Over both notification rules, one message per booking event, rendered by moto's input
    transformer: the function reads it as the right kind and continues the record's trace, and
    it carries no insurance data and no date of birth."""
    copies = both_copies(status, encounter)
    messages = []
    for name in NOTIFICATION_RULES:
        pattern = EventPattern.load(json.dumps(RULES[name].event_pattern))
        (target,) = RULES[name].targets
        assert target.queue == "confirmed-care-plan-events-queue"
        assert target.input_transformer is not None
        for event in copies:
            if pattern.matches_event(event):
                messages.append(
                    EventTemplateParser.parse(
                        input_template=target.input_transformer.input_template,
                        input_paths_map=dict(target.input_transformer.input_paths_map),
                        event={**event, "ingestion-time": 0},
                    )
                )
    (message,) = messages
    booking = copies[0]["detail"]["value"]
    notification = decide(json.dumps(message)).notification
    assert notification is not None
    assert notification.kind is kind
    assert notification.booking_id == booking["booking"]["id"]
    assert notification.slot_from == booking["slot"]["fromDate"]
    text = json.dumps(message)
    assert "Acme Health" not in text
    assert booking["patient"]["dateOfBirth"] not in text
    assert set(message) == {"source", "event-type", "id", "data", "detail"}
    assert set(message["detail"]) == {"headers"}
    assert traceparent_in_body(text) == RECORD_TRACEPARENT


@pytest.mark.parametrize("status", [BookingStatus.REJECTED, BookingStatus.EXPIRED])
def test_a_booking_that_never_held_a_slot_notifies_nobody(status: BookingStatus) -> None:
    event = booking_event(status, EncounterType.VIRTUAL)
    copy = bus_event(topics.CAREPLAN_BOOKINGS, json.dumps(event.to_json_dict()).encode(), 1)
    for name in NOTIFICATION_RULES:
        assert routed(name, [copy]) == []


def test_a_virtual_booking_never_reaches_the_clinic_queue() -> None:
    copies = both_copies(BookingStatus.CONFIRMED, EncounterType.VIRTUAL)
    assert routed("onsite-confirmed-care-plan-events", copies) == []


def test_every_rule_is_covered_here() -> None:
    assert set(RULES) == {
        "all-confirmed-care-plan-events",
        "all-cancelled-care-plan-events",
        "onsite-confirmed-care-plan-events",
    }


@pytest.mark.parametrize("status", [BookingStatus.CONFIRMED, BookingStatus.CANCELLED_BY_PATIENT])
def test_the_clinic_gets_the_visit_and_nothing_else_of_the_patient(status: BookingStatus) -> None:
    """The on-site rule's input transformer, rendered by moto as the local platform renders it:
    the function reads the same visit as from the whole event, and the message carries no date
    of birth, gender or insurance."""
    (rule_input,) = [
        e
        for e in both_copies(status, EncounterType.ONSITE)
        if routed("onsite-confirmed-care-plan-events", [e])
    ]
    (target,) = RULES["onsite-confirmed-care-plan-events"].targets
    assert target.input_transformer is not None
    message = EventTemplateParser.parse(
        input_template=target.input_transformer.input_template,
        input_paths_map=dict(target.input_transformer.input_paths_map),
        event={**rule_input, "ingestion-time": 0},
    )
    assert clinic_decide(json.dumps(message)) == clinic_decide(json.dumps(rule_input))
    text = json.dumps(message)
    patient = rule_input["detail"]["value"]["patient"]
    for withheld in (patient["dateOfBirth"], "FEMALE", "Acme Health", "M-1", "GOLD"):
        assert withheld not in text
