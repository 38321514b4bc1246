"""Readiness tells the truth: with Kafka stopped, both HTTP services stay ready (degraded, the
outbox backlog in the body), a booking is accepted into the outbox, search answers; once Kafka
is back the booking is confirmed.

The booking goes through a Care Plan of its own with a booking timeout longer than the outage:
the session's Care Plan runs with a five-second timeout, and a booking whose request could not
even be sent before its deadline expires when the broker returns (see the README's limits).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Saga, extra_care_plan
from tests.integration.care_plan.support import eventually

pytestmark = pytest.mark.e2e


async def _ready_body(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_services_stay_ready_while_kafka_is_away_and_the_booking_confirms_after(
    saga: Saga,
) -> None:
    async with extra_care_plan(
        saga, "care-plan-outage", port=8084, environment={"BOOKING_TIMEOUT_SECONDS": "300"}
    ) as outage_care_plan:
        care_plan = outage_care_plan.client
        provider = await saga.provider()
        availability = await saga.slot(provider)
        await eventually(
            lambda: saga.searchable(availability["id"], provider["id"], care_plan),
            what="the slot searchable in the outage Care Plan",
        )
        patient = await saga.patient(care_plan)

        await asyncio.to_thread(saga.launcher.down, ["kafka"])
        try:
            for client in (care_plan, saga.provider_schedule):
                body = await _ready_body(client)
                assert body["status"] == "UP"
                assert body["degraded"] is True
                assert body["checks"]["kafka"].startswith("DOWN")
                assert body["checks"]["database"] == "UP"
            booking = await saga.book(patient, availability["id"], care_plan)
            assert booking.status_code == 201, booking.text
            search = await care_plan.get("/availability", params={"providerId": provider["id"]})
            assert search.status_code == 200, search.text  # the slot is held now: not listed
            assert availability["id"] not in {slot["id"] for slot in search.json()}

            async def waiting_in_outbox() -> bool:
                outbox = (await _ready_body(care_plan))["outbox"]
                return bool(outbox["unpublishedEvents"] >= 1)

            await eventually(waiting_in_outbox, what="the booking request waiting in the outbox")
        finally:
            await asyncio.to_thread(saga.launcher.up, ["kafka"])

        booking_id = booking.json()["id"]
        await saga.until_status(patient, booking_id, "CONFIRMED", timeout=120, client=care_plan)

        async def healthy_again() -> bool:
            return not (await _ready_body(care_plan))["degraded"]

        await eventually(healthy_again, timeout=60, what="the outage Care Plan not degraded")
