"""docs/contract.md, the contract written for a reader, names everything the code speaks: each
topic, event type, source, dead-letter header and HTTP path of the generated documents, and
every file it points at exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contract import sources
from contract.events import EventType
from contract.topics import CONTRACT_TOPICS
from eventing.consumer_types import RecordContext
from eventing.dead_letter import DeadLetterReason, dead_letter_headers

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "contract.md"
TEXT = DOC.read_text(encoding="utf-8")


def section(number: int) -> str:
    found = re.search(rf"^## {number}\. .*?(?=^## |\Z)", TEXT, flags=re.MULTILINE | re.DOTALL)
    assert found, f"docs/contract.md has no section {number}"
    return found.group(0)


def test_the_readme_links_the_contract_inside_the_repository() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/contract.md)" in readme
    assert "../shared" not in readme


def test_every_relative_link_of_the_document_exists() -> None:
    targets = re.findall(r"\]\((?!https?://)([^)#]+)\)", TEXT)
    assert "asyncapi.json" in targets
    assert "schemas/" in targets
    for target in targets:
        assert (DOC.parent / target).exists(), f"docs/contract.md links {target}, which is missing"


def test_every_topic_event_type_and_source_is_explained() -> None:
    topics = section(2)
    for topic in CONTRACT_TOPICS:
        assert f"`{topic.name}`" in topics, topic.name
    for event_type in EventType:
        assert f"`{event_type.value}`" in topics, event_type.value
    for source in (sources.PROVIDER_SCHEDULE, sources.CARE_PLAN, sources.INSURANCE_PROCESSOR):
        assert f"`{source}`" in section(1), source


def test_every_dead_letter_header_is_named() -> None:
    record = RecordContext("t", 0, 0, 0, None, None, [])
    headers = dead_letter_headers(
        record,
        reason=DeadLetterReason.MALFORMED,
        error=ValueError("x"),
        attempts=1,
        consumer_group="g",
    )
    for name, _ in headers:
        assert f"`{name}`" in section(2), name
    for reason in DeadLetterReason:
        assert f"`{reason.value}`" in section(2), reason.value


@pytest.mark.parametrize(("service", "port"), [("provider-schedule", 8090), ("care-plan", 8080)])
def test_every_documented_endpoint_is_in_the_service_openapi(service: str, port: int) -> None:
    http = section(4)
    title = {"provider-schedule": "Provider Schedule", "care-plan": "Care Plan"}[service]
    table = re.search(rf"\*\*{title}\*\*, port \*\*{port}\*\*.*?\n\n(\|.*?)\n\n", http, re.S)
    assert table, f"no endpoint table for {title} on port {port}"
    documented = re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`", table.group(1), re.M)
    assert len(documented) >= 6
    openapi = json.loads((REPO / "docs" / "openapi" / f"{service}.openapi.json").read_text())
    for method, path in documented:
        assert method.lower() in openapi["paths"].get(path, {}), f"{method} {path} of {service}"


def test_the_event_bus_section_names_the_shipped_rules() -> None:
    rules = sorted((REPO / "deploy" / "eventbridge" / "rules").glob("*.json"))
    assert rules
    for path in rules:
        assert f"`{json.loads(path.read_text())['Name']}`" in section(5), path.name


def test_the_licence_is_mit_0_like_the_original() -> None:
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT No Attribution")
    assert "without restriction" in licence
