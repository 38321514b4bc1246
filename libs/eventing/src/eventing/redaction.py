"""Error texts without patient data, for logs and dead-letter headers.

A patient's name, date of birth or insurance member id reaches an error text in three known
ways: pydantic repeats the invalid input (``input_value=...``), PostgreSQL repeats the row or
key (``DETAIL: Failing row contains (...)``, ``Key (...)=(...)``, ``invalid input syntax for
type date: "..."``) and asyncpg repeats a bad query argument. ``describe_error`` builds the
text from what is safe by construction (the field, the reason, the SQLSTATE); ``scrub`` removes
those known shapes from free text, for the logging filter that is the last line of defence.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

from pydantic import ValidationError

REDACTED = "[redacted]"
_MAX_LENGTH = 2000

# Field names that carry patient data, in the contract's camelCase and the tables' snake_case.
_PATIENT_FIELDS = (
    "firstName|lastName|dateOfBirth|memberId|payer|plan|email|"
    "first_name|last_name|date_of_birth|member_id|insurance_payer|insurance_member_id|"
    "insurance_plan"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # pydantic: "[type=..., input_value='1991-13-45', input_type=str]"
    (
        re.compile(r"input_value=.*?, input_type=", re.DOTALL),
        f"input_value={REDACTED}, input_type=",
    ),
    # PostgreSQL DETAIL of check and not-null violations: the whole row.
    (re.compile(r"Failing row contains \(.*\)"), f"Failing row contains ({REDACTED})"),
    # PostgreSQL DETAIL of unique and foreign-key violations: the key's values.
    (re.compile(r"(Key \([^)]*\))=\(.*?\)( |$)", re.MULTILINE), rf"\1=({REDACTED})\2"),
    # PostgreSQL: 'invalid input syntax for type date: "..."', 'value out of range: "..."'.
    (re.compile(r'((?:for type|out of range|for encoding)[^:\n]*): ".*?"'), rf'\1: "{REDACTED}"'),
    # asyncpg: "invalid input for query argument $2: 'value' (expected ...)".
    (re.compile(r"(query argument \$\d+): .*"), rf"\1: {REDACTED}"),
    # JSON, dict reprs and key=value pairs naming a patient field.
    (
        re.compile(rf"""(["']?\b(?:{_PATIENT_FIELDS})\b["']?\s*[:=]\s*)(["'])(?:\\.|(?!\2).)*\2"""),
        rf"\1\2{REDACTED}\2",
    ),
)


# Every shape above holds one of these characters; most log texts (ids, words) hold none and
# need no pass of the patterns: 42 of a log line's 66 us went to them (a line per booking).
_MAY_REPEAT_A_VALUE = re.compile(r"[:=(]")


def scrub(text: str) -> str:
    """``text`` with every known shape of a repeated value replaced by ``[redacted]``."""
    if _MAY_REPEAT_A_VALUE.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def describe_error(error: BaseException) -> str:
    """What went wrong, in words that never repeat the data that was being processed."""
    return f"{type(error).__name__}: {redacted_message(error)}"


def redacted_message(error: BaseException) -> str:
    """The error's message without repeated values (``describe_error`` without the type)."""
    if isinstance(error, ValidationError):
        return _describe_validation(error)[:_MAX_LENGTH]
    original = getattr(error, "orig", None)
    if isinstance(original, BaseException):
        # SQLAlchemy wraps the driver's error; its own text adds the statement's parameters.
        return describe_error(original)
    if type(error).__module__.startswith("asyncpg"):
        return _describe_database_error(error)
    return scrub(str(error))[:_MAX_LENGTH]


def _describe_validation(error: ValidationError) -> str:
    # Location, reason and type; never the input (include_input=False) nor the context, which
    # for a custom validator's error may be built from the input.
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or '<root>'}: "
        f"{scrub(item['msg'])} [{item['type']}]"
        for item in error.errors(include_input=False, include_url=False, include_context=False)
    ]
    return f"{error.error_count()} validation error(s) for {error.title}: " + "; ".join(problems)


def _describe_database_error(error: BaseException) -> str:
    # The server's message and DETAIL repeat values ("Failing row contains (...)"); SQLSTATE and
    # the names of the constraint, table and column say enough to act on.
    facts = {
        field: getattr(error, field, None)
        for field in ("sqlstate", "constraint_name", "table_name", "column_name")
    }
    known = ", ".join(f"{field}={value}" for field, value in facts.items() if value)
    return f"({known})" if known else "(no details)"


def redacted_traceback(error: BaseException) -> str:
    """A traceback whose exception lines come from ``describe_error``: the frames (code) stay,
    the messages (data) go."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for position, exception in enumerate(reversed(chain)):
        if position:
            parts.append(
                "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(exception.__traceback__))
        parts.append(describe_error(exception) + "\n")
    return "".join(parts).rstrip("\n")


def redact_value(value: Any) -> Any:
    """A log record's extra field made safe: exceptions described, strings scrubbed."""
    if isinstance(value, BaseException):
        return describe_error(value)
    if isinstance(value, str):
        return scrub(value)
    return value
