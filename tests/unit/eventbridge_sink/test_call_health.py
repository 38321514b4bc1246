"""The sink is ready while PutEvents succeeds or has failed only briefly, and not ready once
the calls have failed for longer than the configured time; a success makes it ready again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventbridge_sink.call_health import CallHealth
from eventbridge_sink.forwarder import Forwarder
from tests.unit.eventbridge_sink.test_forwarder import OPTIONS, _record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DeniedUntilFixed:
    """PutEvents answering AccessDenied until ``fixed``; each call moves the clock 10 s."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.fixed = asyncio.Event()
        self.failures = 0

    async def __call__(self, entries: list[Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        if not self.fixed.is_set():
            self.failures += 1
            self.clock.now += 10
            raise PermissionError("AccessDenied: not authorized to perform events:PutEvents")
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"} for _ in entries]}


async def test_not_ready_once_put_events_failed_longer_than_allowed_then_ready_again() -> None:
    clock = Clock()
    health = CallHealth(unready_after_seconds=25, clock=clock)
    bus = DeniedUntilFixed(clock)
    forwarding = asyncio.create_task(Forwarder(bus, OPTIONS, health).forward([_record(0)]))

    while bus.failures < 2:
        await asyncio.sleep(0)
    health.readiness_check()  # 10 s of failures: still within the grace
    while bus.failures < 4:
        await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="AccessDenied"):
        health.readiness_check()

    bus.fixed.set()
    verdict = await asyncio.wait_for(forwarding, 5)
    assert [r.offset for r in verdict.accepted] == [0]
    health.readiness_check()
