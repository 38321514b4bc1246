"""What one notification message means for the patient: pure decisions and wording, no I/O.

The SQS message body is what the ``all-confirmed-care-plan-events`` and
``all-cancelled-care-plan-events`` rules make of a booking event with their input transformer:
``{"source", "event-type": "Notification", "id", "data": {"patientId", "bookingId", "status",
"encounterType", "slotFrom", "slotTo"}}``. The first two data fields are the contract's
notification (CONTRACT.md section 5); the others are ours, additive, and only ever UUIDs, enum
names or ISO-8601 times: free text (a name) could hold a quote, which moto pastes into the
template unescaped, and the resulting invalid JSON would fail the sink's whole PutEvents call.

A message without ``status`` is the contract's shape, which only the all-confirmed rule
produces: it is a confirmation. A path the event lacks (``slot`` is ours; the Java producer does
not send it) comes through as an empty string or, from moto, as the untouched ``<placeholder>``;
both mean "unknown" and the wording leaves the time out.

What the patient reads carries the booking reference, the kind of appointment and its time,
nothing else: no insurance, no date of birth, no name (the name would be free text, see above).

Like Clinic Operations this ships to Lambda with boto3 only, so it reads JSON with the standard
library; the unit tests check the status names against ``contract.events.BookingStatus``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

CONFIRMED_STATUSES = frozenset({"CONFIRMED"})
CANCELLED_BY_PATIENT = "CANCELLED_BY_PATIENT"
CANCELLED_BY_PROVIDER = "CANCELLED_BY_PROVIDER"
CANCELLED_STATUSES = frozenset({CANCELLED_BY_PATIENT, CANCELLED_BY_PROVIDER})
ENCOUNTER_WORDS = {"ONSITE": "on-site", "VIRTUAL": "virtual"}


class InvalidNotificationError(ValueError):
    """The message is not a notification of a booking."""


class Kind(StrEnum):
    CONFIRMATION = "CONFIRMATION"
    CANCELLATION = "CANCELLATION"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: Kind
    booking_id: str
    patient_id: str
    booking_status: str
    event_id: str | None
    encounter_type: str | None
    slot_from: str | None
    slot_to: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    notification: Notification | None
    reason: str


@dataclass(frozen=True, slots=True)
class Addressing:
    """Who sends, and how a patient id becomes an address.

    The contract carries no e-mail address, so the recipient is derived from the patient id:
    ``recipient_template`` with ``{patient_id}`` (locally
    ``patient-<id>@patients.careplan.example``, a reserved domain that reaches nobody; moto keeps
    what was sent).
    """

    sender: str
    recipient_template: str

    def recipient(self, patient_id: str) -> str:
        return self.recipient_template.format(patient_id=patient_id)


@dataclass(frozen=True, slots=True)
class Email:
    sender: str
    recipient: str
    subject: str
    text: str


def decide(body: str) -> Decision:
    """The notification one SQS message asks for, if any.

    :raises InvalidNotificationError: malformed JSON or a missing booking or patient id.
    """
    try:
        message = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidNotificationError(f"body is not JSON: {error}") from error
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        raise InvalidNotificationError("missing object 'data'")
    status = _optional(data, "status") or "CONFIRMED"
    if status in CONFIRMED_STATUSES:
        kind = Kind.CONFIRMATION
    elif status in CANCELLED_STATUSES:
        kind = Kind.CANCELLATION
    else:
        # A status a later rule might route (REJECTED, EXPIRED): nothing to tell the patient.
        return Decision(None, f"booking status {status}")
    notification = Notification(
        kind=kind,
        booking_id=_required(data, "bookingId"),
        patient_id=_required(data, "patientId"),
        booking_status=status,
        event_id=_optional(message, "id"),
        encounter_type=_optional(data, "encounterType"),
        slot_from=_optional(data, "slotFrom"),
        slot_to=_optional(data, "slotTo"),
    )
    return Decision(notification, f"booking status {status}")


def compose(notification: Notification, addressing: Addressing) -> Email:
    """The e-mail for the patient."""
    appointment = _appointment(notification)
    if notification.kind is Kind.CONFIRMATION:
        subject = "Your appointment is confirmed"
        opening = f"{appointment} is confirmed."
    elif notification.booking_status == CANCELLED_BY_PROVIDER:
        subject = "Your appointment was cancelled by your provider"
        opening = f"{appointment} was cancelled by your provider. Please book another time."
    else:
        subject = "Your appointment is cancelled"
        opening = f"{appointment} is cancelled, as you asked."
    text = f"Hello,\n\n{opening}\n\nBooking reference: {notification.booking_id}\n"
    return Email(
        sender=addressing.sender,
        recipient=addressing.recipient(notification.patient_id),
        subject=subject,
        text=text,
    )


def _appointment(notification: Notification) -> str:
    kind = ENCOUNTER_WORDS.get(notification.encounter_type or "")
    what = f"Your {kind} appointment" if kind else "Your appointment"
    start = _time(notification.slot_from)
    if start is None:
        return what
    when = start.strftime("%A %d %B %Y, %H:%M")
    end = _time(notification.slot_to)
    if end is not None:
        when += end.strftime("-%H:%M")
    zone = start.tzname() or "UTC"
    return f"{what} on {when} ({zone})"


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _required(container: dict[str, Any], key: str) -> str:
    value = _optional(container, key)
    if value is None:
        raise InvalidNotificationError(f"missing string {key!r}")
    return value


def _optional(container: dict[str, Any], key: str) -> str | None:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("<") and value.endswith(">"):
        return None  # an input path the event did not have, left unresolved by moto
    return value
