"""JSON Schemas of the payloads, generated from the models in ``events.py``.

The schemas describe what a producer writes (pydantic's serialization mode): dates are ISO-8601
with an offset, enums are closed. Readers are more lenient (legacy dates, unknown fields), which
the models themselves implement. ``docs/schemas/`` holds the generated files:

    python -m contract.schemas docs/schemas          # (re)write them
    python -m contract.schemas --check docs/schemas  # exit 1 if they are not current
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract import topics
from contract.events import (
    AvailabilityEvent,
    BookingEvent,
    BookingReply,
    BookingRequest,
    InsuredBookingEvent,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The payload model of every contract topic (CONTRACT.md sections 2 and 3).
TOPIC_PAYLOADS: Mapping[str, type[BaseModel]] = {
    topics.PROVIDER_AVAILABILITY: AvailabilityEvent,
    topics.BOOKING_REQUESTS: BookingRequest,
    topics.BOOKING_REPLIES: BookingReply,
    topics.CAREPLAN_BOOKINGS: BookingEvent,
    topics.CAREPLAN_BOOKINGS_INSURED: InsuredBookingEvent,
}


def schema_file_name(topic: str) -> str:
    return f"{topic}.schema.json"


def json_schema(model: type[BaseModel], *, topic: str | None = None) -> dict[str, Any]:
    """The schema of what producers write for ``model`` (camelCase, serialization mode)."""
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    header: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT}
    if topic is not None:
        header["$id"] = schema_file_name(topic)
        header["description"] = f"The data of a CloudEvent on the Kafka topic {topic}"
    return {**header, **schema}


def topic_schema(topic: str) -> dict[str, Any]:
    return json_schema(TOPIC_PAYLOADS[topic], topic=topic)


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def rendered_files() -> dict[str, str]:
    """File name -> content of every schema, as ``write`` would write them."""
    return {schema_file_name(topic): render(topic_schema(topic)) for topic in TOPIC_PAYLOADS}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered_files().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def stale_files(directory: Path) -> list[str]:
    """Names of schema files that are missing from ``directory`` or differ from the models."""
    stale = []
    for name, content in rendered_files().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(name)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path, nargs="?", default=Path("docs/schemas"))
    parser.add_argument("--check", action="store_true", help="only report stale files")
    arguments = parser.parse_args(argv)
    if arguments.check:
        stale = stale_files(arguments.directory)
        for name in stale:
            sys.stderr.write(f"{arguments.directory / name} is not current\n")
        return 1 if stale else 0
    for path in write(arguments.directory):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
