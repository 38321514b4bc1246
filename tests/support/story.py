"""An insured on-site booking made through the public APIs, for the tracing tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx

from devstack.settings import DevstackSettings

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, within: float, what: str) -> T:
    deadline = time.monotonic() + within
    while (result := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.1)
    return result


def book_insured_onsite(settings: DevstackSettings) -> str:
    headers = {"X-API-KEY": settings.api_key}
    base = "http://127.0.0.1"
    with (
        httpx.Client(base_url=f"{base}:{settings.provider_schedule_port}", headers=headers) as ps,
        httpx.Client(base_url=f"{base}:{settings.care_plan_port}", headers=headers) as cp,
    ):
        provider = ps.post(
            "/providers",
            json={"firstName": "Trace", "lastName": "Me", "speciality": "Dentist",
                  "gender": "FEMALE"},
        ).raise_for_status().json()  # fmt: skip
        start = (datetime.now(UTC) + timedelta(days=40, minutes=uuid.uuid4().int % 50_000)).replace(
            second=0, microsecond=0
        )
        slot = ps.post(
            f"/providers/{provider['id']}/availability",
            json={"fromDate": start.isoformat(), "encounterType": "ONSITE",
                  "toDate": (start + timedelta(minutes=30)).isoformat()},
        ).raise_for_status().json()  # fmt: skip

        def bookable() -> bool | None:
            found = cp.get("/availability", params={"providerId": provider["id"]}).json()
            return True if any(s["id"] == slot["id"] for s in found) else None

        eventually(bookable, within=30, what="slot searchable in Care Plan")
        patient = cp.post(
            "/patients",
            json={"firstName": "Trace", "lastName": "Me", "gender": "FEMALE",
                  "dateOfBirth": "1990-01-01",
                  "insurance": {"payer": "Acme", "memberId": "T-1", "plan": "GOLD",
                                "validUntil": "2035-12-31"}},
        ).raise_for_status().json()  # fmt: skip
        booking = (
            cp.post(
                f"/patients/{patient['id']}/bookings",
                json={"providerAvailabilityId": slot["id"], "paymentMode": "INSURANCE_PAY"},
            )
            .raise_for_status()
            .json()
        )
        return str(booking["id"])
