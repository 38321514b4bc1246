"""Every event this service produced in the test run fits the contract's JSON Schemas.

The schemas are generated from ``contract.events`` (``python -m contract.schemas``) into
``docs/schemas/``. The conftest runs this module last, so that it reads every event the other
tests (and the service process) produced; it also makes one of each kind itself, so that it
proves something when run alone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from contract import schemas, topics
from devstack.settings import DevstackSettings
from provider_schedule.domain import commands
from provider_schedule.service_layer import handlers
from tests.integration.provider_schedule.conftest import ScheduleApp, provider_body, slot_body
from tests.integration.provider_schedule.kafka_reading import Received, read_to_end, read_until

# Reads every event of the run: ordered last by tests/conftest.py.
pytestmark = [pytest.mark.integration, pytest.mark.contract_audit]

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "docs" / "schemas"
AVAILABILITY_TYPES = {"AVAILABILITY_CREATED", "AVAILABILITY_UPDATED", "AVAILABILITY_DELETED"}
REPLY_TYPES = {"BOOKING_REQUEST_CONFIRMED", "BOOKING_REQUEST_REJECTED"}


def _validator(topic: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / schemas.schema_file_name(topic)).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _violations(validator: Draft202012Validator, records: list[Received]) -> list[str]:
    return [f"{r.topic}@{r.partition}:{r.offset} {error.json_path}: {error.message}"
            for r in records for error in validator.iter_errors(r.event.data)]  # fmt: skip


def test_schema_files_are_current() -> None:
    assert schemas.stale_files(SCHEMAS) == [], "run: uv run python -m contract.schemas"


async def _one_event_of_each_kind(client: httpx.AsyncClient) -> str:
    """A slot created, moved and deleted (with its provider); its id."""
    pid = (await client.post("/providers", json=provider_body())).json()["id"]
    slot = (await client.post(f"/providers/{pid}/availability", json=slot_body(20, 9))).json()
    moved = await client.put(f"/providers/{pid}/availability/{slot['id']}",
                             json=slot_body(20, 10))  # fmt: skip
    assert moved.status_code == 200
    assert (await client.delete(f"/providers/{pid}")).status_code == 204
    return str(slot["id"])


async def test_every_event_on_provider_availability_fits_the_contract(
    client: httpx.AsyncClient, infrastructure: DevstackSettings
) -> None:
    slot = await _one_event_of_each_kind(client)
    records = await _read_when_present(infrastructure, topics.PROVIDER_AVAILABILITY, {slot: 3})
    assert {r.event.type for r in records if r.key == slot} == AVAILABILITY_TYPES

    assert _violations(_validator(topics.PROVIDER_AVAILABILITY), records) == []
    versions: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        data, event = record.event.data, record.event
        assert event.type in AVAILABILITY_TYPES
        assert event.source == "/provider-schedule"
        assert record.headers["ce_specversion"] == b"1.0"
        assert record.headers["content-type"] == b"application/json"
        assert data["id"] == event.id
        assert record.key == data["availability"]["id"]
        # The Java consumer reads these two objects as maps of strings (contract 3).
        for part in ("provider", "availability"):
            assert all(not isinstance(v, dict | list) for v in data[part].values()), data[part]
        versions[record.key].append((data["availability"]["version"], event.id))
    # Per slot, the topic holds the changes in order: versions only grow. An event may be on
    # the topic twice (a dead-letter replay, a redelivery): the same ce_id counts once.
    for key, history in versions.items():
        history = list(dict.fromkeys(history))
        assert [v for v, _ in history] == sorted({v for v, _ in history}), (key, history)


async def test_every_booking_reply_fits_the_contract(
    client: httpx.AsyncClient, schedule_app: ScheduleApp, infrastructure: DevstackSettings
) -> None:
    pid = (await client.post("/providers", json=provider_body())).json()["id"]
    slot = (await client.post(f"/providers/{pid}/availability", json=slot_body(21, 9))).json()
    confirmed, rejected = uuid.uuid4(), uuid.uuid4()
    async with schedule_app.container.units.begin() as uow:
        await handlers.request_booking(commands.RequestBooking(confirmed, uuid.UUID(slot["id"])),
                                       uow)  # fmt: skip
        await handlers.request_booking(commands.RequestBooking(rejected, uuid.uuid4()), uow)
    records = await _read_when_present(infrastructure, topics.BOOKING_REPLIES,
                                       {str(confirmed): 1, str(rejected): 1})  # fmt: skip

    assert _violations(_validator(topics.BOOKING_REPLIES), records) == []
    for record in records:
        assert record.event.type in REPLY_TYPES
        assert record.key == record.event.data["bookingId"]
        assert ("reason" in record.event.data) == (record.event.type == "BOOKING_REQUEST_REJECTED")


async def _read_when_present(
    settings: DevstackSettings, topic: str, keys: dict[str, int]
) -> list[Received]:
    """Every record of ``topic``, read once ``keys`` (key -> records expected) are all there."""

    def present(records: list[Received]) -> bool:
        counts = Counter(r.key for r in records)
        return all(counts[key] >= n for key, n in keys.items())

    await asyncio.to_thread(read_until, settings, topic, present)
    return await asyncio.to_thread(read_to_end, settings, topic)
