"""The ``clinic-visits`` DynamoDB table: conditional writes keyed by ``bookingId`` and a listing.

The conditions enforce the rules in ``logic`` inside DynamoDB, so concurrent or redelivered
messages cannot break them: no read-modify-write on our side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from clinic_operations.logic import Visit, VisitStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# Attributes describing the booking; a cancellation keeps the ones a confirmation stored.
_DETAILS = {
    "patientId": "patient_id",
    "patientFirstName": "patient_first_name",
    "patientLastName": "patient_last_name",
    "providerId": "provider_id",
    "speciality": "speciality",
    "slotFrom": "slot_from",
    "slotTo": "slot_to",
    "encounterType": "encounter_type",
}
# Attributes describing the latest transition.
_TRANSITION = {
    "bookingStatus": "booking_status",
    "eventId": "event_id",
    "eventTime": "event_time",
}


def _is_conditional_check_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _strings(visit: Visit, names: dict[str, str]) -> dict[str, str]:
    values = {attribute: getattr(visit, field) for attribute, field in names.items()}
    return {attribute: value for attribute, value in values.items() if value is not None}


def record_confirmed(dynamodb: DynamoDBClient, table: str, visit: Visit) -> bool:
    """Creates the CONFIRMED visit; False if the booking already has one (in any status)."""
    item: dict[str, AttributeValueTypeDef] = {
        "bookingId": {"S": visit.booking_id},
        "status": {"S": VisitStatus.CONFIRMED.value},
    }
    for attribute, value in (_strings(visit, _DETAILS) | _strings(visit, _TRANSITION)).items():
        item[attribute] = {"S": value}
    try:
        dynamodb.put_item(
            TableName=table, Item=item, ConditionExpression="attribute_not_exists(bookingId)"
        )
    except ClientError as error:
        if _is_conditional_check_failure(error):
            return False
        raise
    return True


def record_cancelled(dynamodb: DynamoDBClient, table: str, visit: Visit) -> bool:
    """Marks the visit CANCELLED, creating it if needed; False if it already was cancelled."""
    assignments = ["#status = :cancelled"]
    names = {"#status": "status"}
    values: dict[str, AttributeValueTypeDef] = {":cancelled": {"S": VisitStatus.CANCELLED.value}}
    for index, (attribute, value) in enumerate(_strings(visit, _DETAILS).items()):
        names[f"#d{index}"] = attribute
        values[f":d{index}"] = {"S": value}
        assignments.append(f"#d{index} = if_not_exists(#d{index}, :d{index})")
    for index, (attribute, value) in enumerate(_strings(visit, _TRANSITION).items()):
        names[f"#t{index}"] = attribute
        values[f":t{index}"] = {"S": value}
        assignments.append(f"#t{index} = :t{index}")
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"bookingId": {"S": visit.booking_id}},
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression="attribute_not_exists(bookingId) OR #status <> :cancelled",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if _is_conditional_check_failure(error):
            return False
        raise
    return True


def list_visits(dynamodb: DynamoDBClient, table: str) -> list[Visit]:
    """Every visit, ordered by slot start then booking id (for the CLI table)."""
    visits: list[Visit] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            visits.append(_visit(item))
    return sorted(visits, key=lambda visit: (visit.slot_from or "", visit.booking_id))


def _visit(item: dict[str, AttributeValueTypeDef]) -> Visit:
    def text(attribute: str) -> str | None:
        value = item.get(attribute)
        return value.get("S") if value is not None else None

    return Visit(
        booking_id=text("bookingId") or "",
        patient_id=text("patientId") or "",
        patient_first_name=text("patientFirstName"),
        patient_last_name=text("patientLastName"),
        provider_id=text("providerId"),
        speciality=text("speciality"),
        slot_from=text("slotFrom"),
        slot_to=text("slotTo"),
        encounter_type=text("encounterType") or "",
        status=VisitStatus(text("status") or VisitStatus.CONFIRMED.value),
        booking_status=text("bookingStatus") or "",
        event_id=text("eventId"),
        event_time=text("eventTime"),
    )
