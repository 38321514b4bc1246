"""Admission control: past its budget Care Plan refuses bookings with 429, Retry-After and a
problem body, writing nothing; reads go on; readiness says degraded; once the backlog drains,
bookings are accepted again.

A Care Plan of its own (database, topics, a 30 s booking timeout and a 0.5 s budget), so that
its shedding never reaches the other tests and no expiry ends the backlog before the test does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from care_plan import bootstrap
from care_plan.main import create_app
from devstack.settings import DevstackSettings
from tests.integration.care_plan.conftest import HEADERS, PrivateTopics, Service, service_settings
from tests.integration.care_plan.support import (
    FakeProvider,
    create_database,
    drop_database,
    eventually,
    new_slot,
)
from tests.integration.care_plan.test_availability_api import publish_slots
from tests.integration.care_plan.test_bookings_api import UNINSURED, book, new_patient, status_of
from tests.support.database import every_pooled_connection_held
from tests.support.kafka import unique_topic

pytestmark = pytest.mark.integration

BUDGET_SECONDS = 0.5


@pytest.fixture(scope="module")
async def private(infrastructure: DevstackSettings) -> PrivateTopics:
    return PrivateTopics(
        availability=unique_topic(infrastructure, "care-plan.admission-availability"),
        replies=unique_topic(infrastructure, "care-plan.admission-replies"),
    )


@pytest.fixture(scope="module")
async def shedding_service(
    infrastructure: DevstackSettings, private: PrivateTopics
) -> AsyncIterator[Service]:
    url = await create_database(infrastructure, "care_plan_admission")
    settings = service_settings(
        infrastructure,
        url,
        private,
        booking_timeout_seconds=30.0,
        admission_budget_seconds=BUDGET_SECONDS,
    )
    container = bootstrap.build(settings)
    app = create_app(container)
    engine = create_async_engine(url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://cp", headers=HEADERS) as client,
            httpx.AsyncClient(transport=transport, base_url="http://cp") as anonymous,
        ):
            yield Service(client, anonymous, container, settings, async_sessionmaker(engine))
    await engine.dispose()
    await drop_database(infrastructure, url)


@pytest.fixture(scope="module")
def replier(infrastructure: DevstackSettings, private: PrivateTopics) -> FakeProvider:
    return FakeProvider(
        infrastructure.bootstrap_servers,
        availability_topic=private.availability,
        replies_topic=private.replies,
    )


async def _degraded(service: Service) -> bool:
    response = await service.client.get("/health/ready")
    assert response.status_code == 200, "shedding writes is no reason to leave the rotation"
    return bool(response.json()["degraded"])


async def _closed(service: Service) -> bool:
    return service.container.admission.verdict.closed


async def _bookings_of(service: Service, patient: str) -> list[str]:
    response = await service.client.get(f"/patients/{patient}/bookings")
    assert response.status_code == 200
    return [booking["id"] for booking in response.json()]


async def test_bookings_are_refused_while_the_backlog_is_over_budget_and_accepted_once_it_drains(
    shedding_service: Service, replier: FakeProvider
) -> None:
    service = shedding_service
    first, second = new_slot(), new_slot()
    await publish_slots(service, replier, [first, second])
    patient = await new_patient(service, UNINSURED)
    waiting = await book(service, patient, first)
    assert waiting.status_code == 201, waiting.text
    # Nobody answers: the booking waits, and past the budget the service sheds every booking.
    await eventually(lambda: _closed(service), what="the service sheds every booking")
    assert await _degraded(service)

    key = f"retry-{uuid.uuid4().hex}"
    refused = await book(service, patient, second, key=key)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["status"], problem["title"]) == (429, "Too Many Requests")
    assert problem["instance"] == f"/patients/{patient}/bookings"
    assert await _bookings_of(service, patient) == [waiting.json()["id"]], "nothing written"
    # Reads go on meanwhile.
    assert (await service.client.get("/availability")).status_code == 200
    assert (await service.client.get(f"/patients/{patient}")).status_code == 200
    # Without the key the answer stays 401: admission sits behind the key check.
    assert (
        await service.anonymous.post(f"/patients/{patient}/bookings", json={})
    ).status_code == 401

    # The provider side answers: the backlog drains, and the retry with the same key goes in.
    replier.reply(waiting.json()["id"], first.id, confirmed=True)
    await eventually(lambda: _admitting(service), what="the service admits again")
    assert await status_of(service, patient, waiting.json()["id"]) == "CONFIRMED"
    retried = await book(service, patient, second, key=key)
    assert retried.status_code == 201, retried.text
    assert len(await _bookings_of(service, patient)) == 2
    # The module's tests share this service: a booking left waiting here would close it, past
    # the budget, for the next test (its 30 s expiry is the only other way out).
    replier.reply(retried.json()["id"], second.id, confirmed=True)
    await eventually(
        lambda: _has_status(service, patient, retried.json()["id"], "CONFIRMED"),
        what="the retried booking confirmed",
    )


async def _admitting(service: Service) -> bool:
    return not await _degraded(service)


async def _has_status(service: Service, patient: str, booking: str, status: str) -> bool:
    return await status_of(service, patient, booking) == status


async def test_the_backlog_is_measured_while_request_handlers_hold_every_pooled_connection(
    shedding_service: Service, replier: FakeProvider
) -> None:
    """Under an open-loop overload the handlers hold the pool and hundreds more wait for it: a
    probe queued behind them judged a backlog long gone and the 201s went on (README, Overload).
    The backlog and readiness are measured on a connection of their own."""
    service = shedding_service
    slot = new_slot()
    await publish_slots(service, replier, [slot])
    patient = await new_patient(service, UNINSURED)
    waiting = await book(service, patient, slot)
    assert waiting.status_code == 201, waiting.text
    try:
        async with every_pooled_connection_held(service.container.database):
            await asyncio.wait_for(service.container.admission.sample(), timeout=10)
            assert service.container.admission.backlog.oldest_waiting_booking > 0
            ready = await asyncio.wait_for(service.client.get("/health/ready"), timeout=10)
            assert ready.status_code == 200, ready.text
    finally:
        replier.reply(waiting.json()["id"], slot.id, confirmed=True)
    await eventually(lambda: _admitting(service), what="the service admits again")
