"""The ``patient-notifications`` DynamoDB table: one item per booking, saying what was sent.

It is what makes the function idempotent per booking and kind of notification: before sending,
the function claims the notification with a conditional write; a redelivered message (SQS
delivers at least once, and the same message may even run twice at once) finds the claim or
the sent mark and sends nothing. A claim is a lease: if the function dies between claiming and
sending, the redelivery after the lease has run out takes it over, so nothing is lost. The one
window left is a death after SES accepted the e-mail and before ``mark_sent``: the redelivery then
sends it again (SES has no idempotency key to close it).

A confirmation is never claimed once a cancellation is: a cancellation that overtook its
confirmation (two messages, no order between them) must not be followed by "confirmed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from patient_notifications.logic import Email, Kind, Notification

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

SENDING = "SENDING"
SENT = "SENT"
# Attribute name prefix of each kind's state.
_PREFIX = {Kind.CONFIRMATION: "confirmation", Kind.CANCELLATION: "cancellation"}


@dataclass(frozen=True, slots=True)
class SentNotification:
    """One row of ``careplan notifications``."""

    booking_id: str
    patient_id: str
    kind: Kind
    state: str
    recipient: str | None
    subject: str | None
    message_id: str | None
    sent_at: str | None


def _is_conditional_check_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def claim(
    dynamodb: DynamoDBClient,
    table: str,
    notification: Notification,
    *,
    now: float,
    lease_seconds: float,
) -> bool:
    """Takes the right to send; False if it was sent, is being sent, or is no longer due."""
    prefix = _PREFIX[notification.kind]
    condition = "attribute_not_exists(#state) OR (#state = :sending AND #lease < :now)"
    if notification.kind is Kind.CONFIRMATION:
        condition = f"({condition}) AND attribute_not_exists(cancellationState)"
    values: dict[str, AttributeValueTypeDef] = {
        ":sending": {"S": SENDING},
        ":now": {"N": repr(now)},
        ":until": {"N": repr(now + lease_seconds)},
        ":patient": {"S": notification.patient_id},
        ":event": {"S": notification.event_id or ""},
    }
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"bookingId": {"S": notification.booking_id}},
            UpdateExpression=(
                "SET #state = :sending, #lease = :until, patientId = :patient, #event = :event"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#state": f"{prefix}State",
                "#lease": f"{prefix}LeaseUntil",
                "#event": f"{prefix}EventId",
            },
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if _is_conditional_check_failure(error):
            return False
        raise
    return True


def mark_sent(
    dynamodb: DynamoDBClient,
    table: str,
    notification: Notification,
    email: Email,
    *,
    message_id: str,
    sent_at: str,
) -> None:
    prefix = _PREFIX[notification.kind]
    dynamodb.update_item(
        TableName=table,
        Key={"bookingId": {"S": notification.booking_id}},
        UpdateExpression=(
            "SET #state = :sent, #message = :message, #sentAt = :sentAt, "
            "#recipient = :recipient, #subject = :subject REMOVE #lease"
        ),
        ExpressionAttributeNames={
            "#state": f"{prefix}State",
            "#lease": f"{prefix}LeaseUntil",
            "#message": f"{prefix}MessageId",
            "#sentAt": f"{prefix}SentAt",
            "#recipient": f"{prefix}Recipient",
            "#subject": f"{prefix}Subject",
        },
        ExpressionAttributeValues={
            ":sent": {"S": SENT},
            ":message": {"S": message_id},
            ":sentAt": {"S": sent_at},
            ":recipient": {"S": email.recipient},
            ":subject": {"S": email.subject},
        },
    )


def release(dynamodb: DynamoDBClient, table: str, notification: Notification) -> None:
    """Gives a claim back after a failed send, so the retry need not wait for the lease."""
    prefix = _PREFIX[notification.kind]
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"bookingId": {"S": notification.booking_id}},
            UpdateExpression="REMOVE #state, #lease",
            ConditionExpression="#state = :sending",
            ExpressionAttributeNames={"#state": f"{prefix}State", "#lease": f"{prefix}LeaseUntil"},
            ExpressionAttributeValues={":sending": {"S": SENDING}},
        )
    except ClientError as error:
        if not _is_conditional_check_failure(error):
            raise


def list_notifications(dynamodb: DynamoDBClient, table: str) -> list[SentNotification]:
    """Every notification claimed or sent, in the order they were sent (for the CLI)."""
    rows: list[SentNotification] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            rows.extend(_rows(item))
    return sorted(rows, key=lambda row: (row.sent_at or "~", row.booking_id, row.kind.value))


def _rows(item: dict[str, AttributeValueTypeDef]) -> list[SentNotification]:
    def text(attribute: str) -> str | None:
        value = item.get(attribute)
        return value.get("S") if value is not None else None

    rows = []
    for kind, prefix in _PREFIX.items():
        state = text(f"{prefix}State")
        if state is None:
            continue
        rows.append(
            SentNotification(
                booking_id=text("bookingId") or "",
                patient_id=text("patientId") or "",
                kind=kind,
                state=state,
                recipient=text(f"{prefix}Recipient"),
                subject=text(f"{prefix}Subject"),
                message_id=text(f"{prefix}MessageId"),
                sent_at=text(f"{prefix}SentAt"),
            )
        )
    return rows
