"""The admission rule and the routes it guards (pure: no service, no database)."""

from __future__ import annotations

import asyncio
import json
from unittest.mock import ANY

import pytest
from starlette.types import Message, Receive, Scope, Send

from care_plan.api.admission import guarded_write as care_plan_guarded
from eventing.admission import (
    BACKLOG_AGE,
    MAX_GROWTH,
    MIN_LIMIT,
    PROBLEM_TYPE,
    TARGET_FRACTION,
    AdmissionMiddleware,
    AdmissionMonitor,
    Backlog,
    Verdict,
    decide,
    shed_now,
)
from eventing.problems import Problem
from provider_schedule.api.admission import guarded_write as schedule_guarded

# A budget whose target is a whole second, so that the figures below are exact.
BUDGET = 4.0
TARGET = BUDGET * TARGET_FRACTION
assert TARGET == 1.0


def _waiting(count: int, oldest: float) -> Backlog:
    return Backlog(oldest_waiting_booking=oldest, waiting_bookings=count)


def test_the_limit_starts_at_the_floor_and_an_idle_service_keeps_its_limit() -> None:
    assert Verdict().limit == MIN_LIMIT
    assert decide(Backlog(), budget_seconds=BUDGET) == Verdict(limit=MIN_LIMIT, reason=ANY)
    idle = decide(Backlog(), budget_seconds=BUDGET, previous=Verdict(limit=150))
    assert (idle.limit, idle.limiting, idle.closed) == (150, False, False)


def test_past_the_target_wait_the_limit_is_what_the_path_finishes_in_the_target_time() -> None:
    # 300 in flight, the oldest 2 s old: they finish at ~150/s, 1 s of which is 150.
    verdict = decide(_waiting(300, 2 * TARGET), budget_seconds=BUDGET, previous=Verdict(limit=200))
    assert (verdict.limiting, verdict.closed, verdict.limit) == (True, False, 150)
    assert verdict.retry_after_seconds == 1
    assert "300 bookings wait for their confirmation" in verdict.reason


def test_the_limit_is_enforced_once_the_oldest_promise_waited_half_the_target() -> None:
    assert not decide(_waiting(100, TARGET / 2), budget_seconds=BUDGET).limiting
    assert decide(_waiting(100, TARGET / 2 + 0.01), budget_seconds=BUDGET).limiting


def test_a_service_that_shed_a_write_lately_enforces_its_limit_whatever_the_oldest_age() -> None:
    """A wave of confirmations leaves only young promises: that is no idle service."""
    young = _waiting(100, TARGET / 4)
    assert not decide(young, budget_seconds=BUDGET, previous=Verdict(limit=120)).limiting
    lately = decide(young, budget_seconds=BUDGET, previous=Verdict(limit=120), shed_lately=True)
    assert (lately.limiting, lately.limit) == (True, 180)


def test_the_limit_grows_only_while_promises_are_kept() -> None:
    """A burst's young promises make a large estimate before the path has kept one of them."""
    burst = _waiting(200, TARGET / 4)  # an estimate of 800
    stalled = decide(burst, budget_seconds=BUDGET, previous=Verdict(limit=100), kept=0)
    assert stalled.limit == 100
    keeping = decide(burst, budget_seconds=BUDGET, previous=Verdict(limit=100), kept=1)
    assert keeping.limit == 100 * MAX_GROWTH
    # Over the target the limit still falls to what the path finishes in it.
    slow = decide(_waiting(200, 2 * TARGET), budget_seconds=BUDGET, previous=stalled, kept=0)
    assert slow.limit == 100


def test_under_the_target_the_limit_grows_by_at_most_a_factor_per_sample() -> None:
    verdict = Verdict(limit=100)
    limits = []
    for _ in range(4):  # the path keeps up: what is in flight waits a tenth of the target
        verdict = decide(
            _waiting(verdict.limit, TARGET / 10), budget_seconds=BUDGET, previous=verdict
        )
        limits.append(verdict.limit)
    assert limits == [150, 225, 337, 505]
    assert limits[0] == 100 * MAX_GROWTH


def test_the_limit_settles_where_the_wait_is_the_target() -> None:
    # A path that finishes 150 a second: with the limit full, the oldest has waited limit/150.
    verdict = Verdict(limit=400)
    for _ in range(6):
        limit = verdict.limit
        verdict = decide(_waiting(limit, limit / 150), budget_seconds=BUDGET, previous=verdict)
    assert verdict.limit == pytest.approx(150 * TARGET, abs=2)


def test_one_old_straggler_leaves_the_floor_of_promises_in_flight() -> None:
    verdict = decide(_waiting(3, 0.9 * BUDGET), budget_seconds=BUDGET, previous=Verdict(limit=90))
    assert (verdict.closed, verdict.limit) == (False, MIN_LIMIT)


def test_past_the_budget_nothing_is_admitted_and_retry_after_says_how_far_over_it_is() -> None:
    verdict = decide(
        Backlog(oldest_unpublished_event=7.5, unpublished_events=900),
        budget_seconds=BUDGET,
        previous=Verdict(limit=100),
    )
    # 900 x 1 / 7.5 = 120: the limit still follows the path while it is closed.
    assert (verdict.closed, verdict.limit, verdict.retry_after_seconds) == (True, 120, 4)
    assert "900 events wait to be published" in verdict.reason
    assert decide(_waiting(1, 1.2), budget_seconds=1.0).closed


def test_the_promises_in_flight_are_the_larger_of_bookings_and_events_and_the_unseen() -> None:
    assert Backlog(waiting_bookings=40, unpublished_events=25).in_flight == 40
    assert Backlog(waiting_bookings=0, unpublished_events=25).in_flight == 25
    assert Backlog(waiting_bookings=40, unpublished_events=25, unseen_writes=5).in_flight == 45
    assert Backlog(oldest_waiting_booking=0.3, oldest_unseen_write=0.8).age == 0.8


async def _monitor(*backlogs: Backlog, previous: Verdict) -> AdmissionMonitor:
    """A monitor whose probe measures ``backlogs`` in turn, sampled once."""
    measured = iter(backlogs)

    async def probe() -> Backlog:
        return next(measured)

    monitor = AdmissionMonitor(probe, service="test", budget_seconds=BUDGET)
    monitor.verdict = previous
    await monitor.sample()
    return monitor


def _admit(monitor: AdmissionMonitor, count: int) -> list[int | None]:
    return [monitor.try_admit() for _ in range(count)]


async def test_the_monitor_refuses_writes_while_the_promises_in_flight_exceed_the_limit() -> None:
    monitor = await _monitor(_waiting(140, 2 * TARGET), previous=Verdict(limit=150))
    assert monitor.verdict.limit == 70  # 140 x 1 / 2
    assert _admit(monitor, 10) == [None] * 10
    assert monitor.degraded, "readiness says so while writes are shed"


async def test_under_half_the_target_a_burst_goes_in_whatever_the_limit() -> None:
    monitor = await _monitor(_waiting(100, TARGET * 0.4), previous=Verdict(limit=MIN_LIMIT))
    assert monitor.verdict.limit < 300
    assert None not in _admit(monitor, 300)
    assert not monitor.degraded


async def test_the_monitor_counts_the_promises_kept_between_two_samples() -> None:
    """In flight before, plus admitted since, minus in flight now: kept in between."""
    monitor = await _monitor(
        _waiting(100, TARGET * 0.8),  # the first sample: nothing to compare with, it grows
        _waiting(110, TARGET * 0.8),  # 10 admitted, none kept: the limit holds
        _waiting(105, TARGET * 0.8),  # 5 admitted, 10 kept: it grows again
        previous=Verdict(limit=100),
    )
    assert monitor.verdict.limit == 125  # 100 x 1 / 0.8
    for ticket in _admit(monitor, 10):
        assert ticket is not None
        monitor.finished(ticket)
    await monitor.sample()
    assert monitor.verdict.limit == 125  # 110 x 1 / 0.8 = 137, but nothing was kept
    for ticket in _admit(monitor, 5):
        assert ticket is not None
        monitor.finished(ticket)
    await monitor.sample()
    assert monitor.verdict.limit == 131  # 105 x 1 / 0.8


async def test_after_a_refusal_the_monitor_limits_a_service_whose_promises_are_all_young() -> None:
    monitor = await _monitor(
        _waiting(140, 2 * TARGET), _waiting(70, TARGET / 10), previous=Verdict(limit=150)
    )
    assert monitor.try_admit() is None  # 140 in flight against a limit of 70
    await monitor.sample()  # the wave was confirmed: 70 in flight, the oldest 0.1 s
    assert monitor.verdict.limiting
    # 70 kept: the limit grows from 70 by half, to 105, and 35 more go in, not the 200.
    assert len([ticket for ticket in _admit(monitor, 200) if ticket is not None]) == 35


async def test_writes_the_sample_could_not_see_count_as_in_flight() -> None:
    # 100 in flight, the oldest 0.8 s: a limit of 125, so 25 more go in until the next sample.
    slow = _waiting(100, TARGET * 0.8)
    monitor = await _monitor(slow, slow, previous=Verdict(limit=100))
    assert monitor.verdict.limit == 125
    admitted = _admit(monitor, 30)
    assert [ticket is not None for ticket in admitted] == [True] * 25 + [False] * 5
    for ticket in admitted[:25]:
        assert ticket is not None
        monitor.finished(ticket)  # answered: in the database now, but not in the last sample
    assert monitor.try_admit() is None
    await monitor.sample()
    assert monitor.try_admit() is not None, "the next sample counts what it reads, and only that"


async def test_writes_still_in_their_handlers_count_and_age_until_they_answer() -> None:
    monitor = await _monitor(
        _waiting(100, TARGET * 0.8),
        _waiting(100, TARGET * 2),  # the 25 wait for a pooled connection: not in the database
        _waiting(40, TARGET * 0.6),
        previous=Verdict(limit=100),
    )
    tickets = _admit(monitor, 25)
    await asyncio.sleep(0.01)
    await monitor.sample()
    assert monitor.backlog.in_flight == 125
    assert monitor.backlog.oldest_unseen_write >= 0.01
    # Shown apart from the database's two kinds: what made the age, when it is this one.
    assert BACKLOG_AGE.labels("test", "admitted-write")._value.get() == pytest.approx(
        monitor.backlog.oldest_unseen_write
    )
    assert monitor.verdict.limit == MIN_LIMIT  # 125 x 1 / 2 = 62.5: the floor
    assert monitor.try_admit() is None
    for ticket in tickets:
        assert ticket is not None
        monitor.finished(ticket)
    await monitor.sample()
    assert (monitor.backlog.unseen_writes, monitor.backlog.oldest_unseen_write) == (0, 0.0)
    assert monitor.verdict.limit == 66  # 40 x 1 / 0.6, within 1.5 x 64
    assert monitor.try_admit() is not None


async def test_shed_now_names_exactly_the_guarded_writes_the_monitor_refuses() -> None:
    """What the tracing wrapper leaves without a span is what the middleware answers 429."""
    monitor = await _monitor(_waiting(140, 2 * TARGET), previous=Verdict(limit=150))
    refused = shed_now(monitor, care_plan_guarded)
    booking = {"type": "http", "method": "POST", "path": "/patients/p-1/bookings"}
    read = {"type": "http", "method": "GET", "path": "/patients/p-1/bookings"}
    assert (refused(booking), refused(read)) == (True, False)
    assert monitor.try_admit() is None
    monitor.verdict = Verdict()  # under half the target: nothing limited
    assert not refused(booking)
    assert monitor.try_admit() is not None


async def test_closed_admits_nothing() -> None:
    closed = await _monitor(_waiting(5, BUDGET + 1), previous=Verdict())
    assert closed.verdict.closed
    assert _admit(closed, 5) == [None] * 5
    assert closed.degraded


async def _refusal(middleware: AdmissionMiddleware, path: str) -> tuple[dict[str, str], bytes]:
    """What the middleware sends for a refused POST to ``path``: its headers and body."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        raise AssertionError("a refused write's body is never read")

    await middleware({"type": "http", "method": "POST", "path": path}, receive, send)
    start, body = sent
    assert start["status"] == 429
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return headers, body["body"]


async def test_a_refusal_is_the_problem_of_the_verdict_it_was_refused_by_at_its_own_path() -> None:
    """The body is made once per verdict and completed per request: it must read exactly as
    the whole problem would, for any path, and follow the next verdict."""

    async def never_called(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("a refused write reaches no route")

    monitor = AdmissionMonitor(lambda: asyncio.sleep(0, Backlog()), service="t", budget_seconds=4)
    monitor.verdict = Verdict(closed=True, retry_after_seconds=3, reason="7 bookings wait")
    middleware = AdmissionMiddleware(
        never_called,
        monitor=monitor,
        guarded=lambda method, path: "bookings" if method == "POST" else None,
        service="t",
        answer_after_seconds=0,
    )
    for path in ("/patients/p-1/bookings", '/patients/"é\\"/bookings'):
        headers, body = await _refusal(middleware, path)
        expected = Problem(
            type=PROBLEM_TYPE,
            title="Too Many Requests",
            status=429,
            detail="The platform is behind (7 bookings wait); nothing was written. Retry after "
            "the time given; with the same Idempotency-Key a retry is safe.",
            instance=path,
        )
        assert json.loads(body) == expected.model_dump(exclude_none=True)
        assert headers["content-length"] == str(len(body))
        assert headers["retry-after"] == "3"
    monitor.verdict = Verdict(closed=True, retry_after_seconds=1, reason="2 events wait")
    _, body = await _refusal(middleware, "/patients/p-2/bookings")
    assert json.loads(body)["detail"].startswith("The platform is behind (2 events wait);")
    assert json.loads(body)["instance"] == "/patients/p-2/bookings"


@pytest.mark.parametrize(
    ("method", "path", "guarded"),
    [
        ("POST", "/patients/7/bookings", True),
        ("POST", "/patients/7/bookings/", True),
        ("GET", "/patients/7/bookings", False),
        ("DELETE", "/patients/7/bookings/9", False),  # a cancellation frees capacity
        ("POST", "/patients", False),
        ("GET", "/availability", False),
    ],
)
def test_care_plan_guards_only_booking_a_slot(method: str, path: str, guarded: bool) -> None:
    assert (care_plan_guarded(method, path) is not None) is guarded


@pytest.mark.parametrize(
    ("method", "path", "guarded"),
    [
        ("POST", "/providers/1/availability", True),
        ("PUT", "/providers/1/availability/2", True),
        ("DELETE", "/providers/1/availability/2", True),
        ("PATCH", "/providers/1", True),
        ("DELETE", "/providers/1", True),
        ("POST", "/providers", False),  # publishes nothing
        ("GET", "/providers/1/availability", False),
        ("GET", "/providers/1", False),
    ],
)
def test_provider_schedule_guards_the_writes_that_publish(
    method: str, path: str, guarded: bool
) -> None:
    assert (schedule_guarded(method, path) is not None) is guarded
