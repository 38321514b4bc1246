"""`careplan demo`: the booking story against a running platform, as a live timeline.

Every hop is waited for where it really happens (HTTP, a Kafka topic, an SQS queue, the
DynamoDB table) and shown with the time it took.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.table import Table

from contract import topics
from devstack.cognito import issue_token, load_pool
from devstack.moto import aws_client
from devstack.settings import DevstackSettings
from devstack.topic_watch import TopicWatch

T = TypeVar("T")
NOTIFICATIONS_TABLE = "patient-notifications"
VISITS_TABLE = "clinic-visits"
# A booking refused with 429 (the platform is behind) is sent again this many times at most.
BOOKING_ATTEMPTS = 10


class DemoFailedError(RuntimeError):
    """A hop of the story did not happen in time; the message names it."""


@dataclass
class Timeline:
    console: Console
    began: float = field(default_factory=time.monotonic)
    last: float = field(default_factory=time.monotonic)
    hops: list[tuple[str, float]] = field(default_factory=list)

    def wait_for(self, label: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
        deadline = time.monotonic() + timeout
        with self.console.status(f"[cyan]{label}…"):
            while time.monotonic() < deadline:
                result = probe()
                if result is not None and result is not False:
                    self.hop(label)
                    return result
                time.sleep(0.02)
        self.console.print(f"  [bold red]✘ {label}[/] (nothing after {timeout:.0f} s)")
        raise DemoFailedError(label)

    def hop(self, label: str, detail: str = "") -> None:
        now = time.monotonic()
        took = (now - self.last) * 1000
        self.hops.append((label, took))
        # Ids are shortened so that a line fits an 80-column terminal.
        short = f"{detail[:8]}…" if len(detail) > 9 else detail
        self.console.print(
            f"  [green]✔[/] {label:<48} [bold]{took:6.0f} ms[/] [dim]t+{now - self.began:5.2f}s "
            f"{short}[/]",
            overflow="ellipsis",
            no_wrap=True,
        )
        self.last = now


class Demo:
    def __init__(self, settings: DevstackSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        # The demo runs the platform as an operator would, and books as the patient does: both
        # with tokens of the local user pool (careplan token), as a client in the cloud would.
        headers = self._bearer(role="operator")
        self.provider_api = httpx.Client(
            base_url=f"http://127.0.0.1:{settings.provider_schedule_port}",
            headers=headers,
            timeout=10,
        )
        self.care_plan_api = httpx.Client(
            base_url=f"http://127.0.0.1:{settings.care_plan_port}", headers=headers, timeout=10
        )
        self.sqs: Any = aws_client(settings, "sqs")
        self.dynamodb: Any = aws_client(settings, "dynamodb")

    def _bearer(self, **identity: str) -> dict[str, str]:
        pool = load_pool(self.settings.state_dir)
        if pool is None:
            raise DemoFailedError("no local user pool: run `careplan up` first")
        token = issue_token(aws_client(self.settings, "cognito-idp"), pool, **identity)
        return {"Authorization": f"Bearer {token}"}

    def _ok(self, response: httpx.Response) -> Any:
        if response.is_error:
            raise DemoFailedError(
                f"{response.request.method} {response.request.url.path} -> "
                f"{response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else {}

    def _book(self, patient_id: str, slot_id: str, payment_mode: str) -> Any:
        """Book as a well-behaved client does: one Idempotency-Key for the booking, and after
        a 429 the same request again once Retry-After has passed (the key makes that safe)."""
        key = f"demo-{uuid.uuid4()}"
        as_patient = self._bearer(role="patient", patient_id=patient_id)
        for _ in range(BOOKING_ATTEMPTS):
            response = self.care_plan_api.post(
                f"/patients/{patient_id}/bookings",
                headers={"Idempotency-Key": key, **as_patient},
                json={"providerAvailabilityId": slot_id, "paymentMode": payment_mode},
            )
            if response.status_code != 429:
                return self._ok(response)
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return self._ok(response)

    def run(self) -> None:
        watched = [
            topics.PROVIDER_AVAILABILITY,
            topics.BOOKING_REQUESTS,
            topics.BOOKING_REPLIES,
            topics.CAREPLAN_BOOKINGS,
            topics.CAREPLAN_BOOKINGS_INSURED,
        ]
        with TopicWatch(self.settings.bootstrap_servers, watched) as watch:
            self.console.rule("[bold]1. An on-site booking, insured")
            timeline = Timeline(self.console)
            booking, patient, slot_from = self._book_onsite(timeline, watch)
            self.console.rule("[bold]2. The patient cancels")
            self._cancel(Timeline(self.console), watch, patient)
            self.console.rule("[bold]3. The provider deletes a booked slot")
            self._provider_deletes(Timeline(self.console), watch, patient)
        self._summary(timeline, booking, patient, slot_from)

    def _new_provider(self) -> Any:
        return self._ok(
            self.provider_api.post(
                "/providers",
                json={
                    "firstName": "Grace",
                    "lastName": "Hopper",
                    "speciality": "Dentist",
                    "gender": "FEMALE",
                },
            )
        )

    def _new_slot(self, provider_id: str, hours_ahead: int, encounter: str) -> Any:
        start = (datetime.now(UTC) + timedelta(days=2, hours=hours_ahead)).replace(
            minute=0, second=0, microsecond=0
        )
        return self._ok(
            self.provider_api.post(
                f"/providers/{provider_id}/availability",
                json={
                    "fromDate": start.isoformat(),
                    "toDate": (start + timedelta(minutes=30)).isoformat(),
                    "encounterType": encounter,
                },
            )
        )

    def _searchable(self, provider_id: str, slot_id: str) -> dict[str, Any] | None:
        found = self._ok(
            self.care_plan_api.get("/availability", params={"providerId": provider_id})
        )
        return next((s for s in found if s["id"] == slot_id), None)

    def _booking(self, patient_id: str, booking_id: str) -> dict[str, Any]:
        bookings = self._ok(self.care_plan_api.get(f"/patients/{patient_id}/bookings"))
        return next(b for b in bookings if b["id"] == booking_id)

    def _status_is(self, patient_id: str, booking_id: str, *statuses: str) -> dict[str, Any] | None:
        booking = self._booking(patient_id, booking_id)
        return booking if booking["status"] in statuses else None

    def _book_onsite(
        self, tl: Timeline, watch: TopicWatch
    ) -> tuple[dict[str, Any], dict[str, Any], str]:
        provider = self._new_provider()
        tl.hop("provider created (POST /providers)", provider["id"])
        slot = self._new_slot(provider["id"], hours_ahead=1, encounter="ONSITE")
        tl.hop("availability created (POST …/availability)", slot["id"])
        tl.wait_for(
            "AVAILABILITY_CREATED on provider.availability",
            lambda: watch.find(topics.PROVIDER_AVAILABILITY, "AVAILABILITY_CREATED", slot["id"]),
        )
        tl.wait_for(
            "seen by Care Plan (GET /availability)",
            lambda: self._searchable(provider["id"], slot["id"]),
        )
        patient = self._ok(
            self.care_plan_api.post(
                "/patients",
                json={
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "gender": "FEMALE",
                    "dateOfBirth": "1990-12-10",
                    "insurance": {
                        "payer": "Acme Health",
                        "memberId": "ACME-0042",
                        "plan": "GOLD",
                        "validUntil": "2030-12-31",
                    },
                },
            )
        )
        tl.hop("patient created, insured (POST /patients)", patient["id"])
        results = self._ok(
            self.care_plan_api.get(
                "/availability",
                params={
                    "speciality": "Dentist",
                    "encounterType": "ONSITE",
                    "providerId": provider["id"],
                },
            )
        )
        tl.hop(f"search: {len(results)} on-site Dentist slot(s)")
        booking = self._book(patient["id"], slot["id"], "INSURANCE_PAY")
        tl.hop(f"booking requested: {booking['status']}", booking["id"])
        tl.wait_for(
            "BOOKING_CREATION_REQUEST on …booking.requests",
            lambda: watch.find(topics.BOOKING_REQUESTS, "BOOKING_CREATION_REQUEST", slot["id"]),
        )
        tl.wait_for(
            "BOOKING_REQUEST_CONFIRMED on …booking.replies",
            lambda: watch.find(topics.BOOKING_REPLIES, "BOOKING_REQUEST_CONFIRMED", booking["id"]),
        )
        tl.wait_for(
            "booking CONFIRMED (GET …/bookings)",
            lambda: self._status_is(patient["id"], booking["id"], "CONFIRMED"),
        )
        tl.wait_for(
            "BOOKING_CONFIRMED on careplan.bookings",
            lambda: watch.find(topics.CAREPLAN_BOOKINGS, "BOOKING_CONFIRMED", booking["id"]),
        )
        insured = tl.wait_for(
            "insured: on careplan.bookings.insured",
            lambda: watch.find(
                topics.CAREPLAN_BOOKINGS_INSURED, "BOOKING_CONFIRMED", booking["id"]
            ),
        )
        coverage = insured.data.get("coverage", {})
        self.console.print(f"      [dim]coverage: {json.dumps(coverage)}[/]")
        tl.wait_for(
            "EventBridge rule -> queue -> Patient Notifications: confirmation sent (SES)",
            lambda: self._notification(booking["id"]),
        )
        tl.wait_for(
            "clinic visit created (DynamoDB clinic-visits)",
            lambda: self._visit_status(booking["id"], "CONFIRMED"),
        )
        return booking, patient, slot["fromDate"]

    def _notification(self, booking_id: str) -> dict[str, Any] | None:
        """The confirmation Patient Notifications sent, from its ledger (it consumes the
        confirmed queue, so the queue itself is empty by the time one looks)."""
        item = self.dynamodb.get_item(
            TableName=NOTIFICATIONS_TABLE, Key={"bookingId": {"S": booking_id}}, ConsistentRead=True
        ).get("Item")
        sent = item and item.get("confirmationState", {}).get("S") == "SENT"
        return dict(item) if item and sent else None

    def _visit_status(self, booking_id: str, status: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=VISITS_TABLE, Key={"bookingId": {"S": booking_id}}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item and item.get("status", {}).get("S") == status else None

    def _cancel(self, tl: Timeline, watch: TopicWatch, patient: dict[str, Any]) -> None:
        """A second on-site booking, cancelled by the patient: the first one stays confirmed."""
        provider, slot, booking = self._confirmed_booking(tl, patient, "ONSITE", hours_ahead=2)
        tl.wait_for(
            "its clinic visit created", lambda: self._visit_status(booking["id"], "CONFIRMED")
        )
        self._ok(self.care_plan_api.delete(f"/patients/{patient['id']}/bookings/{booking['id']}"))
        tl.hop("patient cancels (DELETE …/bookings/{id})", booking["id"])
        tl.wait_for(
            "BOOKING_CANCELLED on careplan.bookings",
            lambda: watch.find(topics.CAREPLAN_BOOKINGS, "BOOKING_CANCELLED", booking["id"]),
        )
        tl.wait_for(
            "slot bookable again (GET /availability)",
            lambda: self._searchable(provider["id"], slot["id"]),
        )
        tl.wait_for(
            "clinic visit marked CANCELLED", lambda: self._visit_status(booking["id"], "CANCELLED")
        )

    def _confirmed_booking(
        self, tl: Timeline, patient: dict[str, Any], encounter: str, *, hours_ahead: int
    ) -> tuple[Any, Any, Any]:
        """A new provider's slot, seen by Care Plan and booked (self-pay) until CONFIRMED."""
        provider = self._new_provider()
        slot = self._new_slot(provider["id"], hours_ahead=hours_ahead, encounter=encounter)
        tl.wait_for(
            f"{encounter.lower()} slot seen by Care Plan",
            lambda: self._searchable(provider["id"], slot["id"]),
        )
        booking = self._book(patient["id"], slot["id"], "SELF_PAY")
        tl.wait_for(
            "booking CONFIRMED", lambda: self._status_is(patient["id"], booking["id"], "CONFIRMED")
        )
        return provider, slot, booking

    def _provider_deletes(self, tl: Timeline, watch: TopicWatch, patient: dict[str, Any]) -> None:
        provider, slot, booking = self._confirmed_booking(tl, patient, "VIRTUAL", hours_ahead=3)
        self._ok(self.provider_api.delete(f"/providers/{provider['id']}/availability/{slot['id']}"))
        tl.hop("provider deletes the booked slot", slot["id"])
        tl.wait_for(
            "booking CANCELLED_BY_PROVIDER",
            lambda: self._status_is(patient["id"], booking["id"], "CANCELLED_BY_PROVIDER"),
        )
        tl.wait_for(
            "BOOKING_CANCELLED on careplan.bookings",
            lambda: watch.find(topics.CAREPLAN_BOOKINGS, "BOOKING_CANCELLED", booking["id"]),
        )

    def _summary(
        self, timeline: Timeline, booking: dict[str, Any], patient: dict[str, Any], slot_from: str
    ) -> None:
        total = sum(took for _, took in timeline.hops)
        table = Table(title="What happened", show_header=False)
        table.add_row(
            "on-site booking", f"{booking['id']} for {patient['firstName']} {patient['lastName']}"
        )
        table.add_row("slot", slot_from)
        # The end state the story promises, read back rather than assumed.
        status = self._booking(patient["id"], booking["id"])["status"]
        visit = self._visit_status(booking["id"], "CONFIRMED")
        if status != "CONFIRMED" or visit is None:
            raise DemoFailedError(f"the on-site booking ended {status}, visit {visit}")
        table.add_row("booking status", status)
        table.add_row("clinic visit", "CONFIRMED (DynamoDB clinic-visits)")
        table.add_row(
            "provider created -> clinic visit",
            f"{total / 1000:.2f} s over {len(timeline.hops)} hops",
        )
        self.console.print(table)
        s = self.settings
        self.console.print(
            "\n[bold]Explore further[/]\n"
            f"  Provider Schedule API  http://127.0.0.1:{s.provider_schedule_port}/docs\n"
            f"  Care Plan API          http://127.0.0.1:{s.care_plan_port}/docs\n"
            "  careplan status        what runs and where\n"
            "  careplan clinic visits the visits Clinic Operations recorded\n"
            "  careplan logs <part>   a component's log (-f to follow)\n"
            "  careplan token --patient ID | --provider ID | --operator   a bearer token\n"
            "  careplan audit         who read or changed which patient's data\n"
            "  careplan down          stop everything (the platform stays up until then)\n"
            f"  Event flow, live       http://127.0.0.1:{s.flow_port}\n"
            f"  Machine credential (local only, an operator): X-API-KEY: {s.api_key}"
        )
        if s.tracing:
            self.console.print(
                f"\n[bold]This booking's trace[/]  careplan trace {booking['id']}\n"
                f"  {s.jaeger_url}/search?service=care-plan&tags="
                f"%7B%22booking.id%22%3A%22{booking['id']}%22%7D"
            )
        else:
            self.console.print(
                "\n[dim]Traces: `careplan up --with tracing` adds Jaeger (built once, minutes)[/]"
            )
