"""What one EventBridge booking event means for the clinic: pure decisions, no I/O.

The SQS message body is what the ``onsite-confirmed-care-plan-events`` rule delivers: the
EventBridge event's ``id`` and ``time`` and a ``detail.value`` in the booking event's shape
(CONTRACT.md sections 3 and 5), reduced by the rule's input transformer to what a visit records
(booking id and status, encounter type, patient id and name, slot), so no date of birth,
gender or insurance reaches the clinic. The whole event reads the same.

A visit only ever moves forward: absent -> CONFIRMED -> CANCELLED, and CANCELLED is final (a
cancelled booking is never confirmed again; rebooking creates a new booking id). Hence:

- a confirmation creates the visit only if none exists: a redelivered confirmation is a no-op
  and can never reset a cancelled visit;
- a cancellation marks the visit CANCELLED whether or not it exists yet, keeping the details a
  confirmation already stored; a cancellation that overtakes its confirmation creates the visit
  as CANCELLED and the late confirmation then finds it and changes nothing.

This package ships to Lambda with boto3 only, so it reads the contract's JSON with the standard
library rather than the pydantic models in ``contract``; the unit tests check the status names
against ``contract.events.BookingStatus``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ONSITE = "ONSITE"
CONFIRMED_STATUSES = frozenset({"CONFIRMED"})
CANCELLED_STATUSES = frozenset({"CANCELLED_BY_PATIENT", "CANCELLED_BY_PROVIDER"})


class InvalidNotificationError(ValueError):
    """The message is not an EventBridge event carrying a booking event."""


class VisitStatus(StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class Action(StrEnum):
    CONFIRM = "CONFIRM"
    CANCEL = "CANCEL"
    IGNORE = "IGNORE"


@dataclass(frozen=True, slots=True)
class Visit:
    booking_id: str
    patient_id: str
    patient_first_name: str | None
    patient_last_name: str | None
    provider_id: str | None
    speciality: str | None
    slot_from: str | None
    slot_to: str | None
    encounter_type: str
    status: VisitStatus
    # The booking status that produced ``status`` (e.g. CANCELLED_BY_PATIENT) and the
    # EventBridge event that carried it, for operators tracing a visit back to Kafka.
    booking_status: str
    event_id: str | None
    event_time: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    visit: Visit | None
    reason: str


def decide(body: str) -> Decision:
    """The action for one SQS message body.

    :raises InvalidNotificationError: malformed JSON or a missing required field.
    """
    try:
        event = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidNotificationError(f"body is not JSON: {error}") from error
    value = _object(_object(event, "detail"), "value")
    booking = _object(value, "booking")
    booking_status = _string(booking, "status")
    encounter_type = _string(value, "encounterType")
    if encounter_type != ONSITE:
        return Decision(Action.IGNORE, None, f"encounter type {encounter_type}")
    if booking_status in CONFIRMED_STATUSES:
        action, status = Action.CONFIRM, VisitStatus.CONFIRMED
    elif booking_status in CANCELLED_STATUSES:
        action, status = Action.CANCEL, VisitStatus.CANCELLED
    else:
        # REJECTED, EXPIRED, WAITING_FOR_CONFIRMATION and statuses added later never
        # had a visit: acknowledge them.
        return Decision(Action.IGNORE, None, f"booking status {booking_status}")
    patient = _object(value, "patient")
    # ``slot`` is ours (additive): the Java producer does not send it.
    raw_slot = value.get("slot")
    slot: dict[str, Any] = raw_slot if isinstance(raw_slot, dict) else {}
    visit = Visit(
        booking_id=_string(booking, "id"),
        patient_id=_string(patient, "id"),
        patient_first_name=_optional(patient, "firstName"),
        patient_last_name=_optional(patient, "lastName"),
        provider_id=_optional(slot, "providerId"),
        speciality=_optional(slot, "speciality"),
        slot_from=_optional(slot, "fromDate"),
        slot_to=_optional(slot, "toDate"),
        encounter_type=encounter_type,
        status=status,
        booking_status=booking_status,
        event_id=_optional(event, "id"),
        event_time=_optional(event, "time"),
    )
    return Decision(action, visit, f"booking status {booking_status}")


def _object(container: Any, key: str) -> dict[str, Any]:
    value = container.get(key) if isinstance(container, dict) else None
    if not isinstance(value, dict):
        raise InvalidNotificationError(f"missing object {key!r}")
    return value


def _string(container: dict[str, Any], key: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidNotificationError(f"missing string {key!r}")
    return value


def _optional(container: dict[str, Any], key: str) -> str | None:
    value = container.get(key)
    return value if isinstance(value, str) else None
