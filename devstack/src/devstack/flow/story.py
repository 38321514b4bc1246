"""The page's form: a provider, a slot, a patient and a booking, through the public APIs.

Only the services' HTTP APIs are used, as any client would; the people are made up (the page
never shows or logs who they are, only ids).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# Care Plan learns of a new slot from provider.availability: the booking waits until it can.
SLOT_VISIBLE_TIMEOUT = 20.0
SPECIALITIES = ("Dentist", "Cardiologist", "Dermatologist", "General Practitioner")
ENCOUNTER_TYPES = ("ONSITE", "VIRTUAL")
PAYMENT_MODES = ("INSURANCE_PAY", "SELF_PAY")


class StoryError(RuntimeError):
    """A step of the story failed; the message names it."""


@dataclass(frozen=True, slots=True)
class Story:
    provider_id: str
    slot_id: str
    patient_id: str
    booking_id: str
    booking_status: str
    # From the booking's POST to its answer, as the browser's user waited for it.
    post_ms: float


@dataclass(frozen=True, slots=True)
class StoryRequest:
    speciality: str
    encounter_type: str
    payment_mode: str


class StoryClient:
    def __init__(self, provider_api: httpx.AsyncClient, care_plan_api: httpx.AsyncClient) -> None:
        self._provider_api = provider_api
        self._care_plan_api = care_plan_api

    async def play(self, request: StoryRequest) -> Story:
        provider = await self._ok(
            "create the provider",
            self._provider_api.post(
                "/providers",
                json={
                    "firstName": "Flow",
                    "lastName": "Page",
                    "speciality": request.speciality,
                    "gender": "FEMALE",
                },
            ),
        )
        start = (datetime.now(UTC) + timedelta(days=3, minutes=uuid.uuid4().int % 10_000)).replace(
            second=0, microsecond=0
        )
        slot = await self._ok(
            "create the slot",
            self._provider_api.post(
                f"/providers/{provider['id']}/availability",
                json={
                    "fromDate": start.isoformat(),
                    "toDate": (start + timedelta(minutes=30)).isoformat(),
                    "encounterType": request.encounter_type,
                },
            ),
        )
        await self._until_bookable(provider["id"], slot["id"])
        insurance = (
            {
                "insurance": {
                    "payer": "Acme Health",
                    "memberId": f"FLOW-{uuid.uuid4().hex[:8]}",
                    "plan": "GOLD",
                    "validUntil": "2035-12-31",
                }
            }
            if request.payment_mode == "INSURANCE_PAY"
            else {}
        )
        patient = await self._ok(
            "create the patient",
            self._care_plan_api.post(
                "/patients",
                json={
                    "firstName": "Flow",
                    "lastName": "Visitor",
                    "gender": "FEMALE",
                    "dateOfBirth": "1990-01-01",
                    **insurance,
                },
            ),
        )
        began = time.monotonic()
        booking = await self._ok(
            "book the slot",
            self._care_plan_api.post(
                f"/patients/{patient['id']}/bookings",
                headers={"Idempotency-Key": f"flow-{uuid.uuid4()}"},
                json={"providerAvailabilityId": slot["id"], "paymentMode": request.payment_mode},
            ),
        )
        return Story(
            provider_id=provider["id"],
            slot_id=slot["id"],
            patient_id=patient["id"],
            booking_id=booking["id"],
            booking_status=booking["status"],
            post_ms=(time.monotonic() - began) * 1000,
        )

    async def _until_bookable(self, provider_id: str, slot_id: str) -> None:
        deadline = time.monotonic() + SLOT_VISIBLE_TIMEOUT
        while time.monotonic() < deadline:
            found = await self._ok(
                "search the slot",
                self._care_plan_api.get("/availability", params={"providerId": provider_id}),
            )
            if any(s.get("id") == slot_id for s in found):
                return
            await asyncio.sleep(0.1)
        raise StoryError(f"Care Plan did not see the new slot within {SLOT_VISIBLE_TIMEOUT:.0f} s")

    @staticmethod
    async def _ok(step: str, call: Awaitable[httpx.Response]) -> Any:
        try:
            response = await call
        except httpx.HTTPError as error:
            raise StoryError(f"{step}: {error}") from error
        if response.is_error:
            raise StoryError(f"{step}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()
