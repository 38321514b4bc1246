"""End-to-end fixtures: the real Care Plan and Provider Schedule processes, started by the
launcher on the test session's ports, with clients for both and a tap on the topics."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contract import topics
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from tests.integration.care_plan.support import KafkaTap, create_database, drop_database, eventually

SERVICES = ["care-plan", "provider-schedule"]


@dataclass
class Saga:
    """Clients of both services, the launcher that runs them, and a tap on the topics."""

    care_plan: httpx.AsyncClient
    provider_schedule: httpx.AsyncClient
    launcher: Platform
    settings: DevstackSettings
    tap: KafkaTap

    async def provider(
        self, speciality: str | None = None, gender: str = "FEMALE"
    ) -> dict[str, Any]:
        response = await self.provider_schedule.post(
            "/providers",
            json={
                "firstName": "Gregory",
                "lastName": "House",
                "gender": gender,
                "speciality": speciality or f"Diagnostics-{uuid.uuid4().hex[:6]}",
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def slot(
        self, provider: dict[str, Any], *, days: int = 30, encounter_type: str = "ONSITE"
    ) -> dict[str, Any]:
        """A new availability of ``provider``, once Care Plan's search shows it."""
        start = (
            datetime.now(UTC) + timedelta(days=days, minutes=uuid.uuid4().int % 100_000)
        ).replace(second=0, microsecond=0)
        response = await self.provider_schedule.post(
            f"/providers/{provider['id']}/availability",
            json={
                "fromDate": start.isoformat(),
                "toDate": (start + timedelta(minutes=30)).isoformat(),
                "encounterType": encounter_type,
            },
        )
        assert response.status_code == 201, response.text
        availability = dict(response.json())
        await eventually(
            lambda: self.searchable(availability["id"], provider["id"]),
            what="availability searchable in Care Plan",
        )
        return availability

    async def searchable(
        self, availability_id: str, provider_id: str, client: httpx.AsyncClient | None = None
    ) -> bool:
        found = await (client or self.care_plan).get(
            "/availability", params={"providerId": provider_id}
        )
        assert found.status_code == 200, found.text
        return availability_id in {item["id"] for item in found.json()}

    async def patient(self, client: httpx.AsyncClient | None = None) -> str:
        response = await (client or self.care_plan).post(
            "/patients",
            json={
                "firstName": "Jane",
                "lastName": "Roe",
                "gender": "FEMALE",
                "dateOfBirth": "1991-08-06",
                "insurance": {
                    "payer": "Acme Health",
                    "memberId": "M-7",
                    "plan": "GOLD",
                    "validUntil": "2030-12-31",
                },
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def book(
        self, patient: str, availability_id: str, client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        return await (client or self.care_plan).post(
            f"/patients/{patient}/bookings", json={"providerAvailabilityId": availability_id}
        )

    async def booking(
        self, patient: str, booking_id: str, client: httpx.AsyncClient | None = None
    ) -> dict[str, Any]:
        response = await (client or self.care_plan).get(
            f"/patients/{patient}/bookings/{booking_id}"
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def until_status(
        self,
        patient: str,
        booking_id: str,
        status: str,
        *,
        timeout: float = 20.0,
        client: httpx.AsyncClient | None = None,
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            booking = await self.booking(patient, booking_id, client)
            return booking if booking["status"] == status else None

        return await eventually(
            reached, timeout=timeout, interval=0.01, what=f"booking {booking_id} {status}"
        )

    async def held_by(self, provider: dict[str, Any], availability_id: str) -> str | None:
        """The provider side's view: which booking holds the slot."""
        response = await self.provider_schedule.get(f"/providers/{provider['id']}/availability")
        assert response.status_code == 200, response.text
        [slot] = [s for s in response.json() if s["id"] == availability_id]
        return slot["bookingReferenceId"]


def stop_service(launcher: Platform, name: str) -> None:
    """Stop one service process and nothing else (its dependencies keep running)."""
    assert launcher.down([name]) == [name]


def _client(settings: DevstackSettings, port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"X-API-KEY": settings.api_key}, timeout=10
    )


@pytest.fixture(scope="session")
def saga_tap(devstack_settings: DevstackSettings, launcher: Platform) -> Iterator[KafkaTap]:
    launcher.up(["kafka"])
    tap = KafkaTap(
        devstack_settings.bootstrap_servers,
        [
            topics.BOOKING_REQUESTS,
            topics.BOOKING_REPLIES,
            topics.CAREPLAN_BOOKINGS,
        ],
    ).start()
    yield tap
    tap.close()


@pytest.fixture(scope="session")
async def saga(
    launcher: Platform, devstack_settings: DevstackSettings, saga_tap: KafkaTap
) -> AsyncIterator[Saga]:
    await asyncio.to_thread(launcher.up, SERVICES)
    async with (
        _client(devstack_settings, devstack_settings.care_plan_port) as care_plan,
        _client(devstack_settings, devstack_settings.provider_schedule_port) as provider_schedule,
    ):
        saga = Saga(care_plan, provider_schedule, launcher, devstack_settings, saga_tap)
        await _warm_up(saga)
        yield saga


async def _warm_up(saga: Saga) -> None:
    """One whole round trip, so that every consumer has its partitions before timing starts."""
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patient = await saga.patient()
    booking = await saga.book(patient, availability["id"])
    assert booking.status_code == 201, booking.text
    await saga.until_status(patient, booking.json()["id"], "CONFIRMED", timeout=60)


@pytest.fixture(scope="session")
async def second_care_plan(saga: Saga) -> AsyncIterator[httpx.AsyncClient]:
    """Another Care Plan deployment with a database of its own, sharing Kafka and the provider
    side with the first (a second region, or the Java Care Plan run beside ours)."""
    async with extra_care_plan(saga, "care-plan-second", port=8083) as second:
        yield second.client


@dataclass(frozen=True)
class ExtraCarePlan:
    client: httpx.AsyncClient
    database_url: str  # SQLAlchemy URL of its own database


@asynccontextmanager
async def extra_care_plan(
    saga: Saga, name: str, *, port: int, environment: dict[str, str] | None = None
) -> AsyncIterator[ExtraCarePlan]:
    """A Care Plan process beside the launcher's, with a database and consumer group of its
    own (``name``), and ``environment`` over the platform's service settings."""
    settings = saga.settings
    database = await create_database(settings, name.replace("-", "_"))
    port = settings.port(port)
    variables = {
        **os.environ,
        **settings.service_environment(),
        "DATABASE_URL": database,
        "HTTP_PORT": str(port),
        "CONSUMER_GROUP": name,
        **(environment or {}),
    }
    log = (settings.state_dir / "logs" / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "care_plan",
        env=variables,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with _client(settings, port) as client:

            async def ready() -> bool:
                assert process.returncode is None, f"{name} exited"
                try:
                    return (await client.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=60, interval=0.2, what=f"{name} ready")
            yield ExtraCarePlan(client, database)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()
        await drop_database(settings, database)
