"""Decisions for one onsite-rule message: confirm, cancel, ignore or reject as malformed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clinic_operations.logic import (
    CANCELLED_STATUSES,
    CONFIRMED_STATUSES,
    Action,
    Decision,
    InvalidNotificationError,
    Visit,
    VisitStatus,
    decide,
)
from contract.events import BookingStatus


def _body(status: str = "CONFIRMED", encounter_type: str = "ONSITE", **value: Any) -> str:
    booking_value: dict[str, Any] = {
        "booking": {
            "id": "b-100",
            "providerAvailabilityId": "a-100",
            "patientId": "p-100",
            "status": status,
            "paymentMode": "SELF_PAY",
        },
        "patient": {
            "id": "p-100",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "gender": "FEMALE",
            "dateOfBirth": "1991-08-06",
        },
        "encounterType": encounter_type,
        "slot": {
            "fromDate": "2026-12-01T09:00:00+00:00",
            "toDate": "2026-12-01T09:30:00+00:00",
            "providerId": "prov-1",
            "speciality": "Dentist",
        },
    }
    booking_value.update(value)
    return json.dumps(
        {
            "version": "0",
            "id": "evt-1",
            "detail-type": "kafka-connect-careplan.bookings",
            "source": "kafka-connect.care-plan-sink",
            "account": "123456789012",
            "time": "2026-11-30T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "topic": "careplan.bookings",
                "partition": 0,
                "offset": 5,
                "timestamp": 1764496800000,
                "timestampType": "CreateTime",
                "headers": [{"ce_type": "BOOKING_CONFIRMED"}],
                "key": "b-100",
                "value": booking_value,
            },
        }
    )


def test_confirmed_onsite_booking_confirms_a_visit() -> None:
    assert decide(_body()) == Decision(
        action=Action.CONFIRM,
        visit=Visit(
            booking_id="b-100",
            patient_id="p-100",
            patient_first_name="Ada",
            patient_last_name="Lovelace",
            provider_id="prov-1",
            speciality="Dentist",
            slot_from="2026-12-01T09:00:00+00:00",
            slot_to="2026-12-01T09:30:00+00:00",
            encounter_type="ONSITE",
            status=VisitStatus.CONFIRMED,
            booking_status="CONFIRMED",
            event_id="evt-1",
            event_time="2026-11-30T10:00:00Z",
        ),
        reason="booking status CONFIRMED",
    )


@pytest.mark.parametrize("status", ["CANCELLED_BY_PATIENT", "CANCELLED_BY_PROVIDER"])
def test_cancelled_onsite_booking_cancels_the_visit(status: str) -> None:
    decision = decide(_body(status=status))

    assert decision.action is Action.CANCEL
    assert decision.visit is not None
    assert decision.visit.status is VisitStatus.CANCELLED
    assert decision.visit.booking_status == status


@pytest.mark.parametrize("status", ["REJECTED", "EXPIRED", "WAITING_FOR_CONFIRMATION", "NEW_ONE"])
def test_bookings_that_never_had_a_visit_are_ignored(status: str) -> None:
    assert decide(_body(status=status)) == Decision(Action.IGNORE, None, f"booking status {status}")


def test_virtual_booking_is_ignored_even_if_routed_here() -> None:
    assert decide(_body(encounter_type="VIRTUAL")) == Decision(
        Action.IGNORE, None, "encounter type VIRTUAL"
    )


def test_booking_without_slot_from_the_java_producer_still_confirms() -> None:
    body = json.loads(_body())
    del body["detail"]["value"]["slot"]

    decision = decide(json.dumps(body))

    assert decision.action is Action.CONFIRM
    assert decision.visit is not None
    assert (decision.visit.slot_from, decision.visit.slot_to, decision.visit.provider_id) == (
        None,
        None,
        None,
    )


def test_body_that_is_not_json_is_invalid() -> None:
    with pytest.raises(InvalidNotificationError, match="not JSON"):
        decide("{not json")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("detail",), "'detail'"),
        (("detail", "value"), "'value'"),
        (("detail", "value", "booking"), "'booking'"),
        (("detail", "value", "booking", "id"), "'id'"),
        (("detail", "value", "booking", "status"), "'status'"),
        (("detail", "value", "patient"), "'patient'"),
        (("detail", "value", "encounterType"), "'encounterType'"),
    ],
)
def test_missing_required_field_is_invalid(path: tuple[str, ...], message: str) -> None:
    body = json.loads(_body())
    container = body
    for key in path[:-1]:
        container = container[key]
    del container[path[-1]]

    with pytest.raises(InvalidNotificationError, match=message):
        decide(json.dumps(body))


def test_status_names_are_the_contract_booking_statuses() -> None:
    contract_statuses = {status.value for status in BookingStatus}

    assert {"CONFIRMED"} == CONFIRMED_STATUSES
    assert {"CANCELLED_BY_PATIENT", "CANCELLED_BY_PROVIDER"} == CANCELLED_STATUSES
    assert contract_statuses >= CONFIRMED_STATUSES | CANCELLED_STATUSES
