"""The AsyncAPI document is valid AsyncAPI 3.0, current, and covers the whole contract."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from contract.asyncapi import build_document, main, render
from contract.events import EventType
from contract.topics import CONTRACT_TOPICS

REPO = Path(__file__).resolve().parents[3]
ASYNCAPI_SCHEMA = REPO / "tests" / "fixtures" / "asyncapi" / "asyncapi-3.0.0.schema.json"
DOCUMENT = REPO / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))


def test_generated_document_is_valid_asyncapi_3(validator: jsonschema.Draft7Validator) -> None:
    errors = sorted(validator.iter_errors(build_document()), key=str)

    assert errors == []


def test_the_validator_rejects_a_broken_document(validator: jsonschema.Draft7Validator) -> None:
    broken = build_document()
    broken["operations"]["carePlanSendsCareplanBookings"]["action"] = "publish"  # AsyncAPI 2 verb

    assert not validator.is_valid(broken)


def test_checked_in_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(build_document())
    assert main(["--check", str(DOCUMENT)]) == 0


def test_every_topic_and_event_type_of_the_contract_is_described() -> None:
    document = build_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    names = {message["name"] for message in document["components"]["messages"].values()}

    assert addresses == {topic.name for topic in CONTRACT_TOPICS}
    assert names == {event_type.value for event_type in EventType}
