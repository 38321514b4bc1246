"""Dates in ISO-8601 or in the legacy ``dd.MM.yyyy`` form that the Java clients send."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

_LEGACY_DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})$")


def parse_flexible_datetime(value: Any) -> Any:
    """``01.01.2023`` -> midnight UTC; ISO-8601 without an offset is read as UTC.

    Other text is refused here: pydantic would read a number in a string ("0.5") as a Unix
    timestamp, a form the contract does not have. Non-text is handed on unchanged so that
    pydantic reports the error itself.
    """
    if isinstance(value, str):
        legacy = _LEGACY_DATE.match(value.strip())
        if legacy:
            day, month, year = (int(part) for part in legacy.groups())
            return datetime(year, month, day, tzinfo=UTC)
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as error:
            raise ValueError("must be an ISO-8601 date-time or a dd.MM.yyyy date") from error
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def format_datetime(value: datetime) -> str:
    """ISO-8601 with an explicit offset, as the contract's examples show."""
    return value.isoformat()


def require_utc_representable(value: datetime) -> datetime:
    """Refuse a time that has no UTC equivalent (year 1 with a positive offset, year 9999 with a
    negative one): every consumer stores or compares in UTC and would fail later, outside
    validation, where the failure looks transient instead of the record's fault."""
    try:
        value.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("date-time outside the range that can be expressed in UTC") from error
    return value


LEGACY_DATE_PATTERN = _LEGACY_DATE.pattern

# What a reader accepts (ISO-8601 or the legacy form) and what a writer produces (ISO-8601
# with an offset) differ, so the generated JSON Schemas say so per mode.
_ACCEPTED_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": LEGACY_DATE_PATTERN},
    ],
    "description": "ISO-8601 date-time, or the legacy dd.MM.yyyy form read as midnight UTC",
}
_PRODUCED_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "description": "ISO-8601 date-time with an offset",
}

FlexibleDateTime = Annotated[
    datetime,
    BeforeValidator(parse_flexible_datetime),
    AfterValidator(require_utc_representable),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
    WithJsonSchema(_ACCEPTED_SCHEMA, mode="validation"),
    WithJsonSchema(_PRODUCED_SCHEMA, mode="serialization"),
]
