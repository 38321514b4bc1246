from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventbridge_sink.forwarder import Forwarder, ForwarderOptions
from eventbridge_sink.mapping import KafkaRecord
from telemetry import configure_tracing

OPTIONS = ForwarderOptions(
    connector_id="c",
    event_bus_name="bus",
    entry_attempts=3,
    initial_backoff_seconds=0,
    max_backoff_seconds=0,
)


def _record(offset: int, value: bytes = b'{"booking":{"status":"CONFIRMED"}}') -> KafkaRecord:
    return KafkaRecord(
        topic="careplan.bookings",
        partition=0,
        offset=offset,
        timestamp_ms=1,
        headers=[],
        key=b"k",
        value=value,
    )


class FakeEventBridge:
    """Rejects the entries whose offset is in ``rejects`` (counting down per call)."""

    def __init__(self, rejects: dict[int, int], call_failures: int = 0) -> None:
        self.rejects = rejects
        self.call_failures = call_failures
        self.calls: list[list[int]] = []

    async def __call__(self, entries: list[Any]) -> dict[str, Any]:
        if self.call_failures:
            self.call_failures -= 1
            raise ConnectionError("endpoint unreachable")
        offsets = [int(entry["Detail"].split('"offset":')[1].split(",")[0]) for entry in entries]
        self.calls.append(offsets)
        results = []
        for offset in offsets:
            if self.rejects.get(offset, 0) > 0:
                self.rejects[offset] -= 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": f"id-{offset}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


async def test_entries_are_sent_in_batches_of_at_most_ten() -> None:
    bus = FakeEventBridge(rejects={})

    verdict = await Forwarder(bus, OPTIONS).forward([_record(n) for n in range(23)])

    assert [len(call) for call in bus.calls] == [10, 10, 3]
    assert [r.offset for r in verdict.accepted] == list(range(23))
    assert verdict.rejected == []


async def test_a_rejected_entry_is_retried_alone_until_accepted() -> None:
    bus = FakeEventBridge(rejects={4: 2})

    verdict = await Forwarder(bus, OPTIONS).forward([_record(n) for n in range(6)])

    assert bus.calls == [[0, 1, 2, 3, 4, 5], [4], [4]]
    assert [r.offset for r in verdict.accepted] == [0, 1, 2, 3, 4, 5]


async def test_an_entry_rejected_on_every_attempt_is_handed_back_for_the_dead_letter_topic() -> (
    None
):
    bus = FakeEventBridge(rejects={1: 99})

    verdict = await Forwarder(bus, OPTIONS).forward([_record(0), _record(1), _record(2)])

    assert [r.offset for r in verdict.accepted] == [0, 2]
    assert [(r.record.offset, r.reason, r.attempts) for r in verdict.rejected] == [
        (1, "retries-exhausted", 3)
    ]
    assert "InternalFailure" in verdict.rejected[0].error


async def test_a_value_that_is_not_json_is_rejected_without_calling_eventbridge() -> None:
    bus = FakeEventBridge(rejects={})

    verdict = await Forwarder(bus, OPTIONS).forward([_record(0, b"{oops"), _record(1)])

    assert bus.calls == [[1]]
    assert [(r.record.offset, r.reason) for r in verdict.rejected] == [(0, "malformed")]


async def test_a_failed_call_is_retried_without_giving_up_on_the_records() -> None:
    bus = FakeEventBridge(rejects={}, call_failures=5)

    verdict = await Forwarder(bus, OPTIONS).forward([_record(0)])

    assert [r.offset for r in verdict.accepted] == [0]
    assert verdict.rejected == []


async def test_the_batches_of_a_poll_are_put_in_parallel_up_to_the_bound() -> None:
    """Seven batches with room for three calls at a time: three overlap, never more."""
    in_flight = 0
    most = 0

    async def slow_bus(entries: list[Any]) -> dict[str, Any]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in entries]}

    options = dataclasses.replace(OPTIONS, parallel_requests=3)
    verdict = await Forwarder(slow_bus, options).forward([_record(n) for n in range(70)])

    assert most == 3
    assert [r.offset for r in verdict.accepted] == list(range(70))


class RecordingEventBridge(FakeEventBridge):
    """Keeps the entries it was given."""

    def __init__(self) -> None:
        super().__init__({})
        self.entries: list[Any] = []

    async def __call__(self, entries: list[Any]) -> dict[str, Any]:
        self.entries.extend(entries)
        return await super().__call__(entries)


async def test_with_tracing_the_event_carries_the_sending_spans_traceparent() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    exporter = InMemorySpanExporter()
    bus = RecordingEventBridge()
    record = dataclasses.replace(_record(0), headers=[("traceparent", parent.encode())])

    verdict = await Forwarder(
        bus, OPTIONS, tracing=configure_tracing("sink", exporter=exporter)
    ).forward([record])

    assert [r.offset for r in verdict.accepted] == [0]
    headers = json.loads(bus.entries[0]["Detail"])["headers"]
    [carried] = [h["traceparent"] for h in headers if "traceparent" in h]
    send = next(s for s in exporter.get_finished_spans() if s.name.startswith("send "))
    assert carried == f"00-{send.context.trace_id:032x}-{send.context.span_id:016x}-01"
    assert send.parent is not None
    assert send.parent.span_id == int(parent[36:52], 16)
    batch = next(s for s in exporter.get_finished_spans() if s.name == "forward to EventBridge")
    assert [link.context.span_id for link in batch.links] == [int(parent[36:52], 16)]


async def test_without_tracing_the_event_carries_the_records_own_traceparent() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    bus = RecordingEventBridge()
    record = dataclasses.replace(_record(0), headers=[("traceparent", parent.encode())])

    await Forwarder(bus, OPTIONS).forward([record])

    assert json.loads(bus.entries[0]["Detail"])["headers"] == [{"traceparent": parent}]
