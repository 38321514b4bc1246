"""The steady booking load of ``bench/chaos.py``: two patients race for each free slot.

Slots are created before the load starts (half on-site, half virtual), one patient of the pool
is insured. Every ``2 / rate`` seconds both racers of the next slot send their booking request
at once, each with an Idempotency-Key of its own. A client retries its request with the same
key, on the next Care Plan replica, after a transport error or a 5xx/429 answer (a replica
being killed or restarted), as a client behind a load balancer would; 201 or 409 ends it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

RETRY_FOR_SECONDS = 120.0
_RETRIED = {429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class Slot:
    id: str
    onsite: bool


@dataclass(slots=True)
class Attempt:
    """One booking request, i.e. one Idempotency-Key, and how it ended for the client."""

    slot: Slot
    patient: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: int | None = None
    booking_id: str | None = None
    tries: int = 0
    error: str = ""


class Endpoints:
    """Round robin over the replicas of one HTTP service: the load balancer's part.

    At most ``in_flight`` requests at once, the rest waiting here rather than in httpx's
    connection pool: queued in the pool, hundreds of retrying requests hung there while the
    services sat idle (a queued request is handed a connection another one took, and waits
    again: encode/httpcore#822). make chaos on 2026-12-03: 1,684 of 2,412 requests ended in
    PoolTimeout, the client's event loop busy, Care Plan answering nothing for minutes."""

    def __init__(self, ports: Sequence[int], api_key: str, *, in_flight: int = 64) -> None:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        self._clients = [
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"X-API-KEY": api_key},
                timeout=10,
                limits=limits,
            )
            for port in ports
        ]
        self._next = itertools.cycle(range(len(self._clients)))
        self._in_flight = asyncio.Semaphore(in_flight)

    async def post(
        self, path: str, body: object, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST to the next replica, once fewer than ``in_flight`` requests are out."""
        async with self._in_flight:
            return await self._clients[next(self._next)].post(path, json=body, headers=headers)

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


async def _created(endpoints: Endpoints, path: str, body: object) -> str:
    """POST until answered 201 (setup runs before any kill, but a replica may still start)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await endpoints.post(path, body)
            if response.status_code == 201:
                return str(response.json()["id"])
            failure = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as error:
            failure = repr(error)
        if time.monotonic() > deadline:
            raise SystemExit(f"setup: POST {path} failed: {failure}")
        await asyncio.sleep(0.5)


async def create_slots(providers: Endpoints, count: int) -> list[Slot]:
    provider = await _created(
        providers,
        "/providers",
        {
            "firstName": "Chaos",
            "lastName": uuid.uuid4().hex[:10],
            "speciality": "Cardiology",
            "gender": "FEMALE",
        },
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=60)
    semaphore = asyncio.Semaphore(16)

    async def one(index: int) -> Slot:
        onsite = index % 2 == 0
        begins = start + timedelta(minutes=15 * index)
        body = {
            "fromDate": begins.isoformat(),
            "toDate": (begins + timedelta(minutes=15)).isoformat(),
            "encounterType": "ONSITE" if onsite else "VIRTUAL",
        }
        async with semaphore:
            return Slot(
                await _created(providers, f"/providers/{provider}/availability", body), onsite
            )

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def create_patients(care_plan: Endpoints, count: int) -> tuple[list[str], str]:
    """``count`` patients; the first one is insured (its bookings default to INSURANCE_PAY)."""
    patients = []
    for index in range(count):
        body: dict[str, object] = {
            "firstName": "Chaos",
            "lastName": f"Patient{index}",
            "gender": "FEMALE",
            "dateOfBirth": "1990-01-01",
        }
        if index == 0:
            body["insurance"] = {
                "payer": "Acme Health",
                "memberId": "M-CHAOS",
                "plan": "GOLD",
                "validUntil": "2035-12-31",
            }
        patients.append(await _created(care_plan, "/patients", body))
    return patients, patients[0]


async def book(care_plan: Endpoints, attempt: Attempt) -> None:
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    pause = 0.2
    path = f"/patients/{attempt.patient}/bookings"
    body = {"providerAvailabilityId": attempt.slot.id}
    while True:
        attempt.tries += 1
        try:
            response = await care_plan.post(path, body, {"Idempotency-Key": attempt.key})
            if response.status_code not in _RETRIED:
                attempt.status = response.status_code
                if response.status_code == 201:
                    attempt.booking_id = str(response.json()["id"])
                elif response.status_code != 409:
                    attempt.error = response.text[:200]
                return
            attempt.error = f"{response.status_code}"
        except httpx.TransportError as error:
            attempt.error = type(error).__name__
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(pause)
        pause = min(2.0, pause * 2)


async def race(
    care_plan: Endpoints,
    slots: Sequence[Slot],
    patients: Sequence[str],
    *,
    bookings_per_second: float,
    stop: asyncio.Event,
) -> list[Attempt]:
    """Open loop: the next slot's two racers start every ``2 / bookings_per_second`` s, however
    long earlier ones take, until ``stop`` is set (or the slots run out). Returns when every
    attempt has ended."""
    attempts: list[Attempt] = []
    tasks: list[asyncio.Task[None]] = []
    interval = 2.0 / bookings_per_second
    began = time.monotonic()
    chooser = random.Random(11)
    for index, slot in enumerate(slots):
        await asyncio.sleep(max(0.0, began + index * interval - time.monotonic()))
        if stop.is_set():
            break
        for patient in chooser.sample(list(patients), 2):
            attempt = Attempt(slot, patient)
            attempts.append(attempt)
            tasks.append(asyncio.create_task(book(care_plan, attempt)))
    await asyncio.gather(*tasks)
    return attempts
