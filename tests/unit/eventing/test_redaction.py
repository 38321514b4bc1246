"""Error texts and log lines without the values that were being processed."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import asyncpg
import pytest
from pydantic import BaseModel, ValidationError

from eventing.logging import json_log_handler
from eventing.redaction import _PATTERNS, describe_error, scrub

SECRET_DOB = "31.02.1977"
SECRET_NAME = "Quillon-Planted"


class Patient(BaseModel):
    first_name: str
    date_of_birth: date


def validation_error() -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Patient.model_validate({"first_name": 7, "date_of_birth": SECRET_DOB})
    return caught.value


def check_violation() -> asyncpg.exceptions.CheckViolationError:
    error = asyncpg.exceptions.CheckViolationError(
        'new row for relation "patients" violates check constraint "guard"'
    )
    error.detail = f"Failing row contains (1, {SECRET_NAME}, {SECRET_DOB})."
    error.sqlstate = "23514"
    error.constraint_name = "guard"
    return error


def test_a_validation_error_says_where_and_why_without_the_input() -> None:
    error = validation_error()
    assert SECRET_DOB in str(error), "the premise: pydantic repeats the input"
    text = describe_error(error)
    assert SECRET_DOB not in text
    assert "date_of_birth" in text
    assert "first_name" in text


def test_a_database_error_says_which_constraint_without_the_row() -> None:
    error = check_violation()
    assert SECRET_NAME in str(error), "the premise: asyncpg adds the DETAIL"
    assert describe_error(error) == ("CheckViolationError: (sqlstate=23514, constraint_name=guard)")


REPEATED_VALUES = [
    f"[type=date_from_datetime_parsing, input_value='{SECRET_DOB}', input_type=str]",
    f"DETAIL:  Failing row contains (1, {SECRET_NAME}, {SECRET_DOB}).",
    f"DETAIL:  Key (member_id)=({SECRET_NAME}) already exists.",
    f'invalid input syntax for type date: "{SECRET_DOB}"',
    f"invalid input for query argument $2: '{SECRET_DOB}' (expected a date)",
    f'{{"firstName": "{SECRET_NAME}", "dateOfBirth": "{SECRET_DOB}"}}',
    f"{{'first_name': '{SECRET_NAME}', 'date_of_birth': '{SECRET_DOB}'}}",
]


def every_pattern(text: str) -> str:
    """``scrub`` without its quick check: each pattern over the text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@pytest.mark.parametrize(
    "text", [*REPEATED_VALUES, "booking confirmed", "0f8fad5b-d9cb-469f-a165-70867728950e"]
)
def test_the_quick_check_lets_through_only_texts_no_pattern_changes(text: str) -> None:
    # Without ':', '=' and '(' the quick check returns the text as it is: so must the patterns.
    for variant in (text, text.replace(":", " ").replace("=", " ").replace("(", " ")):
        assert scrub(variant) == every_pattern(variant)


@pytest.mark.parametrize("text", REPEATED_VALUES)
def test_scrub_removes_each_known_shape_of_a_repeated_value(text: str) -> None:
    scrubbed = scrub(text)
    assert SECRET_DOB not in scrubbed
    assert SECRET_NAME not in scrubbed
    assert "[redacted]" in scrubbed


def test_the_handler_filters_messages_extras_and_tracebacks() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test_redaction")
    logger.addHandler(json_log_handler(service="test", stream=stream))
    logger.propagate = False
    try:
        try:
            raise check_violation()
        except asyncpg.exceptions.CheckViolationError:
            logger.exception("update failed for %s", f'{{"lastName": "{SECRET_NAME}"}}')
        logger.error("parked", extra={"error": validation_error()})
    finally:
        logger.handlers.clear()
        logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        'update failed for {"lastName": "[redacted]"}',
        "parked",
    ]
    assert "CheckViolationError: (sqlstate=23514" in lines[0]["exc_info"]
    assert "date_of_birth" in lines[1]["error"]
    assert SECRET_NAME not in stream.getvalue()
    assert SECRET_DOB not in stream.getvalue()
