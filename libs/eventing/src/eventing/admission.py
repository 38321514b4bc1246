"""Admission control: refuse a write with 429 before the platform falls behind its promises.

A request path that outruns the path behind it (relay, responder, replies) fills a backlog that
only grows; an API that still says 201 then expires what it accepted. So each service watches
how far behind it is and answers ``429 Too Many Requests`` with ``Retry-After`` and an RFC 9457
problem body, before anything is written, for the writes it cannot take on. Reads are never shed.

- ``Backlog`` is what a service measures (sampled a few times a second by ``AdmissionMonitor``,
  never per request): how many promises are in flight (waiting bookings, unpublished events)
  and the age of the oldest.
- ``decide`` is the pure rule: a limit on the promises in flight, from Little's law, so that
  a new promise waits about a target time (a fraction of the budget); past the budget itself
  nothing is admitted. ``AdmissionMonitor.try_admit`` admits a write while the promises in
  flight are under the limit (once it is enforced): one finished lets one more in.
- ``AdmissionMiddleware`` answers 429 for the guarded routes at the ASGI edge, before routing
  and body parsing, so that shedding costs little of the CPU the backlog needs.

Why a limit on the promises in flight rather than a share of the requests (the rule before,
README, Overload): a share must track the offered load, which moves with every client that
gives up or retries, and a share that reached zero past the budget left the confirming path
idle until the oldest booking was confirmed (20-30 % of the capacity lost at 64 connections).
A limit is self-clocking: at any load the confirming path always has work, and what waits is
bounded by the limit, so the wait is the limit divided by the rate at which promises finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from fastapi import APIRouter
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from eventing.health import OutboxBacklog, ReadinessCheck, health_router
from eventing.problems import PROBLEM_JSON, Problem

logger = logging.getLogger(__name__)

BACKLOG_AGE = Gauge(
    "admission_backlog_age_seconds",
    "Age of the oldest unfinished promise, by kind (waiting booking, unpublished event,"
    " admitted write still in its handler)",
    ["service", "kind"],
)
OUTBOX_BACKLOG = Gauge(
    "admission_outbox_backlog_events", "Outbox rows not yet published", ["service"]
)
BUDGET = Gauge("admission_budget_seconds", "Backlog age past which writes are shed", ["service"])
SHED = Counter("admission_shed_requests_total", "Writes answered 429", ["service", "route"])
SHEDDING = Gauge("admission_shedding", "1 while writes are shed", ["service"])
# A write shed this recently still shows in readiness (``degraded``) and the gauge above.
SHEDDING_SHOWS_SECONDS = 1.0
IN_FLIGHT = Gauge(
    "admission_in_flight", "Promises in flight (waiting bookings, unpublished events)", ["service"]
)
LIMIT = Gauge(
    "admission_in_flight_limit",
    "Promises in flight past which writes are shed (once the oldest waited half the target)",
    ["service"],
)

PROBLEM_TYPE = "https://careplan.example/problems/overloaded"


@dataclass(frozen=True, slots=True)
class Backlog:
    """Ages in seconds (0 when there is nothing pending) and counts."""

    oldest_waiting_booking: float = 0.0
    oldest_unpublished_event: float = 0.0
    unpublished_events: int = 0
    waiting_bookings: int = 0
    # Admitted writes the database did not show yet (still in their handlers, or answered
    # after the sample's query), and how long the oldest of those still in a handler has been
    # there: the monitor adds them to what the probe measured.
    unseen_writes: int = 0
    oldest_unseen_write: float = 0.0

    @property
    def age(self) -> float:
        return max(
            self.oldest_waiting_booking, self.oldest_unpublished_event, self.oldest_unseen_write
        )

    @property
    def in_database(self) -> int:
        """The promises the probe read: a waiting booking's request is one of the unpublished
        events until it is published, so the larger count, not the sum."""
        return max(self.waiting_bookings, self.unpublished_events)

    @property
    def in_flight(self) -> int:
        """The promises not yet kept, those the database does not show yet included."""
        return self.in_database + self.unseen_writes


# The wait the limit aims at, as a share of the budget: 1.5 s at Care Plan's default 6 s, so
# that the oldest promise stays well inside the budget and a 201 is confirmed within about
# that time. (The budget, not this share, sets how much waits: README, Overload.)
# Measured (bench/booking.py, 2026-12-02, capacity 264 confirmed/s): at a third, p99 of
# POST -> CONFIRMED 1.79 s with 320 closed-loop connections and 3.0 s at 1,300/s open loop;
# at a quarter 1.18-1.26 s and 2.0-2.3 s, at the same throughput; a fifth gained nothing more.
TARGET_FRACTION = 1 / 4
# The limit never goes below this, whatever one straggler's age says: enough promises in
# flight to keep the confirming path busy and to let a burst of clients in at once. It is also
# where the limit starts.
MIN_LIMIT = 64
# The limit grows at most by this factor per sample (5 a second): the estimate behind it reads
# a wait that is up to one wait old.
MAX_GROWTH = 1.5


@dataclass(frozen=True, slots=True)
class Verdict:
    """What may be admitted until the next sample: ``limit`` promises in flight at most while
    ``limiting``, nothing at all while ``closed``."""

    limit: int = MIN_LIMIT
    limiting: bool = False
    closed: bool = False
    retry_after_seconds: int = 1
    reason: str = ""


def decide(
    backlog: Backlog,
    *,
    budget_seconds: float,
    previous: Verdict | None = None,
    shed_lately: bool = False,
    kept: int | None = None,
) -> Verdict:
    """The next verdict, from the backlog against the budget.

    Little's law: promises in flight = rate at which they finish x time each waits. The oldest
    of ``in_flight`` promises has waited ``age``, so they came (and, at a steady state, go) at
    about ``in_flight / age`` a second, and a limit of that rate x the target wait makes a new
    promise wait about the target: ``in_flight * target / age``. Under the target the estimate
    grows with each sample (the path finishes faster than the limit feeds it) until the wait
    reaches the target or the path its capacity; over it, the limit falls to what the path
    finishes in the target time. The limit follows the path at every sample, and it is
    enforced once the oldest promise has waited half the target: below that nothing queues,
    and a burst of clients on an idle service is let in (the writes in their handlers count,
    and age, so a burst that does queue is seen within a sample).

    ``shed_lately`` (a write was refused within the last target wait) keeps the limit
    enforced whatever the oldest promise's age: an overloaded service is not an idle one
    when a wave of confirmations has just left only young promises. Without it, each such
    moment let the whole offered load in for half the target (5x overload on 2026-12-03:
    in flight 107 -> 406 within 0.5 s against a limit of 216, the oldest 4.2 s two seconds
    later, and the next wave the same).

    ``kept``, the promises kept since the previous sample (None at the first): while none
    is, the limit does not grow. The estimate reads the oldest promise's age as the time the
    path takes to finish what is in flight, which holds in a steady state; in a burst nothing
    has finished yet, young promises make the estimate large, and the limit grew by half at
    every sample (64 -> 324 in 0.8 s) while the path had not confirmed one of them."""
    target = budget_seconds * TARGET_FRACTION
    age, in_flight = backlog.age, backlog.in_flight
    limit = previous.limit if previous is not None else MIN_LIMIT
    if age > 0 and in_flight > 0:
        estimate = in_flight * target / age
        growth = 1.0 if kept == 0 else MAX_GROWTH
        limit = max(MIN_LIMIT, math.floor(min(estimate, limit * growth)))
    if age > budget_seconds:
        # A promise is near breaking (an outage more likely than load): nothing more until
        # it is kept.
        return Verdict(
            limit=limit,
            closed=True,
            retry_after_seconds=max(1, math.ceil(age - budget_seconds)),
            reason=_why(backlog),
        )
    return Verdict(limit=limit, limiting=age > target / 2 or shed_lately, reason=_why(backlog))


def _why(backlog: Backlog) -> str:
    if backlog.oldest_waiting_booking >= backlog.oldest_unpublished_event:
        return (
            f"{backlog.waiting_bookings} bookings wait for their confirmation, the oldest"
            f" {backlog.oldest_waiting_booking:.1f} s"
        )
    return (
        f"{backlog.unpublished_events} events wait to be published, the oldest"
        f" {backlog.oldest_unpublished_event:.1f} s"
    )


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
        # Guarded writes in flight that the last sample could not see: those still in their
        # handler (under an open-loop overload hundreds wait there for a pooled connection),
        # and those finished since (committed after the sample's query).
        self._in_handlers: dict[int, float] = {}  # ticket -> when it was admitted
        self._tickets = itertools.count()
        self._finished_since_sample = 0
        # Admitted since the last sample: with the two samples' promises in flight, how many
        # were kept in between.
        self._admitted_since_sample = 0
        self._sampled = False
        self._last_shed = -math.inf
        BUDGET.labels(service).set(budget_seconds)

    @property
    def degraded(self) -> bool:
        """Writes are being shed: all of them, or some within the last second."""
        return self.verdict.closed or time.monotonic() - self._last_shed < SHEDDING_SHOWS_SECONDS

    def outbox_backlog(self) -> OutboxBacklog:
        """The outbox part of the last sample (the readiness body shows it)."""
        return OutboxBacklog(self.backlog.unpublished_events, self.backlog.oldest_unpublished_event)

    def would_shed(self) -> bool:
        """Whether a guarded write arriving now is refused (``try_admit``'s rule, no ticket)."""
        verdict = self.verdict
        unseen = len(self._in_handlers) + self._finished_since_sample
        in_flight = self.backlog.in_database + unseen
        return verdict.closed or (verdict.limiting and in_flight >= verdict.limit)

    def try_admit(self) -> int | None:
        """A ticket if one more guarded write goes in now, else None. Admitted, it counts as in
        flight, and the caller hands the ticket to ``finished`` once its handler answered."""
        if self.would_shed():
            self._last_shed = time.monotonic()
            return None
        ticket = next(self._tickets)
        self._in_handlers[ticket] = time.monotonic()
        self._admitted_since_sample += 1
        return ticket

    def finished(self, ticket: int) -> None:
        """An admitted write has answered: what it promised is in the database now, where
        the next sample counts it."""
        del self._in_handlers[ticket]
        self._finished_since_sample += 1

    async def sample(self) -> Verdict:
        in_flight_before = self.backlog.in_flight if self._sampled else None
        measured = await self._probe()
        # What answered before now is in what the probe read; what is still in its handler
        # is not.
        self._finished_since_sample = 0
        admitted, self._admitted_since_sample = self._admitted_since_sample, 0
        self._sampled = True
        oldest = min(self._in_handlers.values(), default=None)
        self.backlog = replace(
            measured,
            unseen_writes=len(self._in_handlers),
            oldest_unseen_write=0.0 if oldest is None else time.monotonic() - oldest,
        )
        target = self.budget_seconds * TARGET_FRACTION
        verdict = decide(
            self.backlog,
            budget_seconds=self.budget_seconds,
            previous=self.verdict,
            shed_lately=time.monotonic() - self._last_shed < target,
            kept=(
                None
                if in_flight_before is None
                else max(0, in_flight_before + admitted - self.backlog.in_flight)
            ),
        )
        if verdict.closed != self.verdict.closed:
            logger.warning(
                "shedding every write" if verdict.closed else "admitting writes again",
                extra={"reason": verdict.reason, "backlog_age": round(self.backlog.age, 3)},
            )
        self.verdict = verdict
        BACKLOG_AGE.labels(self._service, "waiting-booking").set(
            self.backlog.oldest_waiting_booking
        )
        BACKLOG_AGE.labels(self._service, "unpublished-event").set(
            self.backlog.oldest_unpublished_event
        )
        BACKLOG_AGE.labels(self._service, "admitted-write").set(self.backlog.oldest_unseen_write)
        OUTBOX_BACKLOG.labels(self._service).set(self.backlog.unpublished_events)
        SHEDDING.labels(self._service).set(1 if self.degraded else 0)
        IN_FLIGHT.labels(self._service).set(self.backlog.in_flight)
        LIMIT.labels(self._service).set(verdict.limit)
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


def shed_now(monitor: AdmissionMonitor, guarded: GuardedRoute) -> Callable[[Scope], bool]:
    """Whether a request arriving now is a guarded write that ``AdmissionMiddleware`` refuses:
    nothing between the ASGI edge and that middleware waits on I/O, so asked at the edge the
    answer is the middleware's own (or the request is refused 401 before it, as untraced)."""

    def refused(scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and guarded(scope["method"], scope["path"]) is not None
            and monitor.would_shed()
        )

    return refused


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
        self._shed_counters: dict[str, Counter] = {}
        # The last verdict's body without its ``instance`` member: a verdict stands for a
        # sample (0.2 s), and under overload hundreds of refusals share it. (The placeholder
        # verdict is never the monitor's.)
        self._answered: tuple[Verdict, str] = (Verdict(), "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._guarded(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self._app(scope, receive, send)
            return
        # Counted even while nothing is limited: when limiting starts, what is in the
        # handlers already counts.
        ticket = self._monitor.try_admit()
        if ticket is not None:
            try:
                await self._app(scope, receive, send)
            finally:
                self._monitor.finished(ticket)
            return
        verdict = self._monitor.verdict
        self._shed_counter(route).inc()
        await asyncio.sleep(self._answer_after)
        body = self._refusal_body(verdict, scope["path"])
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

    def _shed_counter(self, route: str) -> Counter:
        # labels() takes a lock and checks its values on every call: once per route.
        if (counter := self._shed_counters.get(route)) is None:
            counter = self._shed_counters[route] = SHED.labels(self._service, route)
        return counter

    def _refusal_body(self, verdict: Verdict, path: str) -> bytes:
        """The problem body of a 429, its text made once per verdict: a refusal under
        overload is most of what Care Plan serves, and building and dumping the pydantic
        model was 7 % of a refusal's samples (py-spy, 5x overload). ``instance``, the one
        member that differs per request, is the last one of ``Problem``."""
        answered, without_instance = self._answered
        if answered is not verdict:
            problem = Problem(
                type=PROBLEM_TYPE,
                title="Too Many Requests",
                status=429,
                detail=f"The platform is behind ({verdict.reason}); nothing was written. "
                "Retry after the time given; with the same Idempotency-Key a retry is safe.",
                instance="",
            )
            without_instance = problem.model_dump_json(exclude_none=True, exclude={"instance"})
            self._answered = (verdict, without_instance)
        instance = json.dumps(path, ensure_ascii=False)
        return f'{without_instance[:-1]},"instance":{instance}}}'.encode()


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
