"""Admission control: refuse a write with 429 before the platform falls behind its promises.

A request path that outruns the path behind it (relay, responder, replies) fills a backlog that
only grows; an API that still says 201 then expires what it accepted. So each service watches
how far behind it is, and past a budget answers ``429 Too Many Requests`` with ``Retry-After``
and an RFC 9457 problem body, before anything is written. Reads are never shed.

- ``Backlog`` is what a service measures (sampled a few times a second by ``AdmissionMonitor``,
  never per request): the age of the oldest work it promised and has not finished.
- ``decide`` is the pure rule: the share of writes to admit shrinks while the backlog is over
  budget and grows back under it; ``ShareGate`` admits that share of the calls.
- ``AdmissionMiddleware`` answers 429 for the guarded routes at the ASGI edge, before routing
  and body parsing, so that shedding costs little of the CPU the backlog needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from eventing.health import OutboxBacklog, ReadinessCheck, health_router
from eventing.problems import PROBLEM_JSON, Problem

logger = logging.getLogger(__name__)

BACKLOG_AGE = Gauge(
    "admission_backlog_age_seconds",
    "Age of the oldest unfinished promise, by kind (waiting booking, unpublished event)",
    ["service", "kind"],
)
OUTBOX_BACKLOG = Gauge(
    "admission_outbox_backlog_events", "Outbox rows not yet published", ["service"]
)
BUDGET = Gauge("admission_budget_seconds", "Backlog age past which writes are shed", ["service"])
SHED = Counter("admission_shed_requests_total", "Writes answered 429", ["service", "route"])
SHEDDING = Gauge("admission_shedding", "1 while writes are shed", ["service"])
ADMITTED_SHARE = Gauge(
    "admission_admitted_share", "Share of guarded writes admitted (1: all)", ["service"]
)

PROBLEM_TYPE = "https://careplan.example/problems/overloaded"


@dataclass(frozen=True, slots=True)
class Backlog:
    """Ages in seconds (0 when there is nothing pending)."""

    oldest_waiting_booking: float = 0.0
    oldest_unpublished_event: float = 0.0
    unpublished_events: int = 0

    @property
    def age(self) -> float:
        return max(self.oldest_waiting_booking, self.oldest_unpublished_event)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The share of guarded writes to admit until the next sample (1.0: all, 0.0: none)."""

    share: float = 1.0
    retry_after_seconds: int = 0
    reason: str = ""

    @property
    def admit(self) -> bool:
        """Every write is admitted (nothing is being shed)."""
        return self.share >= 1.0


# How the admitted share moves per sample (5 a second). Opening fully whenever the backlog
# dipped under the budget and closing fully above it made the pipeline alternate between a
# burst and idleness: at a 1 s budget 15 % of the capacity was lost (README, Measured). A share
# that shrinks by a factor while over budget and grows by steps while under it (AIMD, as TCP
# does) keeps a steady stream of admitted bookings, just enough to hold the backlog near budget.
DECREASE_FACTOR = 0.7
INCREASE_STEP = 0.1
MIN_SHARE = 0.05
# Past this multiple of the budget nothing is admitted: the promise behind a 201 (confirmed
# well within the booking timeout) comes first.
HARD_LIMIT = 2.0


def decide(backlog: Backlog, *, budget_seconds: float, previous: Verdict | None = None) -> Verdict:
    """The next share of writes to admit, from the backlog's age against the budget."""
    share = previous.share if previous is not None else 1.0
    if backlog.age <= budget_seconds:
        share = min(1.0, round(share + INCREASE_STEP, 6))
        if share >= 1.0:
            return Verdict()
    elif backlog.age > HARD_LIMIT * budget_seconds:
        share = 0.0
    else:
        share = max(MIN_SHARE, min(share, 1.0) * DECREASE_FACTOR)
    # The backlog drains at least as fast as it grew past the budget: ask the client to come
    # back once it may have, at least a second from now.
    retry_after = max(1, math.ceil(backlog.age - budget_seconds))
    if backlog.oldest_waiting_booking >= backlog.oldest_unpublished_event:
        reason = f"bookings wait {backlog.oldest_waiting_booking:.1f} s for their confirmation"
    else:
        reason = f"events wait {backlog.oldest_unpublished_event:.1f} s to be published"
    return Verdict(share=share, retry_after_seconds=retry_after, reason=reason)


class ShareGate:
    """Admits ``share`` of the calls, spread evenly: a credit grows by the share per call and
    a call goes in when a whole credit is there (no randomness, so the first call after
    shedding starts is refused, and tests can rely on it)."""

    def __init__(self) -> None:
        self._credit = 0.0

    def admit(self, share: float) -> bool:
        if share >= 1.0:
            self._credit = 0.0
            return True
        self._credit = min(1.0, self._credit + share)
        if self._credit >= 1.0:
            self._credit -= 1.0
            return True
        return False


BacklogProbe = Callable[[], Awaitable[Backlog]]


class AdmissionMonitor:
    """Samples the backlog in the background; the latest verdict is what requests consult."""

    def __init__(
        self,
        probe: BacklogProbe,
        *,
        service: str,
        budget_seconds: float,
        interval_seconds: float = 0.2,
    ) -> None:
        self._probe = probe
        self._service = service
        self.budget_seconds = budget_seconds
        self._interval = interval_seconds
        self.verdict = Verdict()
        self.backlog = Backlog()
        BUDGET.labels(service).set(budget_seconds)

    @property
    def degraded(self) -> bool:
        return not self.verdict.admit

    def outbox_backlog(self) -> OutboxBacklog:
        """The outbox part of the last sample (the readiness body shows it)."""
        return OutboxBacklog(self.backlog.unpublished_events, self.backlog.oldest_unpublished_event)

    async def sample(self) -> Verdict:
        self.backlog = await self._probe()
        verdict = decide(self.backlog, budget_seconds=self.budget_seconds, previous=self.verdict)
        if verdict.admit != self.verdict.admit:
            logger.warning(
                "shedding writes" if not verdict.admit else "admitting writes again",
                extra={"reason": verdict.reason, "backlog_age": round(self.backlog.age, 3)},
            )
        self.verdict = verdict
        BACKLOG_AGE.labels(self._service, "waiting-booking").set(
            self.backlog.oldest_waiting_booking
        )
        BACKLOG_AGE.labels(self._service, "unpublished-event").set(
            self.backlog.oldest_unpublished_event
        )
        OUTBOX_BACKLOG.labels(self._service).set(self.backlog.unpublished_events)
        SHEDDING.labels(self._service).set(0 if verdict.admit else 1)
        ADMITTED_SHARE.labels(self._service).set(verdict.share)
        return verdict

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample()
            except Exception as error:  # a database outage: keep the last verdict
                logger.warning("backlog not measured", extra={"error": repr(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)


# (method, path) -> the route's name, when it is a write that admission guards.
GuardedRoute = Callable[[str, str], str | None]


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        monitor: AdmissionMonitor,
        guarded: GuardedRoute,
        service: str,
        answer_after_seconds: float = 0.5,
    ) -> None:
        """:param answer_after_seconds: how long a refused request waits for its 429. A client
        that ignores ``Retry-After`` and asks again at once would otherwise turn the service's
        CPU into 429s (measured: 5,600 a second from 64 connections, the confirming path
        starved); waiting costs a sleeping coroutine and bounds such a client to one try per
        this time and connection."""
        self._app = app
        self._monitor = monitor
        self._guarded = guarded
        self._service = service
        self._answer_after = answer_after_seconds
        self._gate = ShareGate()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        verdict = self._monitor.verdict
        if scope["type"] != "http" or verdict.admit:
            await self._app(scope, receive, send)
            return
        route = self._guarded(scope["method"], scope["path"])
        if route is None or self._gate.admit(verdict.share):
            await self._app(scope, receive, send)
            return
        SHED.labels(self._service, route).inc()
        await asyncio.sleep(self._answer_after)
        body = (
            Problem(
                type=PROBLEM_TYPE,
                title="Too Many Requests",
                status=429,
                detail=f"The platform is behind ({verdict.reason}); nothing was written. "
                "Retry after the time given; with the same Idempotency-Key a retry is safe.",
                instance=scope["path"],
            )
            .model_dump_json(exclude_none=True)
            .encode()
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(verdict.retry_after_seconds).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def health_with_admission(
    checks: Mapping[str, ReadinessCheck],
    *,
    informational: Mapping[str, ReadinessCheck],
    monitor: AdmissionMonitor,
) -> APIRouter:
    """The health endpoints of a service that sheds writes: degraded while it sheds, and the
    outbox backlog as ``monitor`` last measured it in the readiness body."""
    return health_router(
        checks,
        degraded=lambda: monitor.degraded,
        informational=informational,
        outbox=monitor.outbox_backlog,
    )
