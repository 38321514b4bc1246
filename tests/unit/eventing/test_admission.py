"""The admission rule and the routes it guards (pure: no service, no database)."""

from __future__ import annotations

import pytest

from care_plan.api.admission import guarded_write as care_plan_guarded
from eventing.admission import (
    DECREASE_FACTOR,
    INCREASE_STEP,
    MIN_SHARE,
    Backlog,
    ShareGate,
    Verdict,
    decide,
)
from provider_schedule.api.admission import guarded_write as schedule_guarded


def test_within_budget_everything_is_admitted() -> None:
    assert decide(Backlog(oldest_waiting_booking=1.0), budget_seconds=1.0).admit
    assert decide(Backlog(), budget_seconds=0.1).admit


def test_over_budget_writes_are_shed_with_a_retry_after_of_at_least_a_second() -> None:
    verdict = decide(Backlog(oldest_waiting_booking=1.2), budget_seconds=1.0)
    assert not verdict.admit
    assert verdict.retry_after_seconds == 1
    assert "confirmation" in verdict.reason


def test_retry_after_grows_with_how_far_over_budget_the_backlog_is() -> None:
    verdict = decide(
        Backlog(oldest_unpublished_event=7.5, unpublished_events=900), budget_seconds=3.0
    )
    assert (verdict.admit, verdict.retry_after_seconds) == (False, 5)
    assert "published" in verdict.reason


def test_over_budget_the_admitted_share_shrinks_by_a_factor_per_sample_down_to_a_floor() -> None:
    over = Backlog(oldest_waiting_booking=1.5)
    verdict = Verdict()
    shares = []
    for _ in range(12):
        verdict = decide(over, budget_seconds=1.0, previous=verdict)
        shares.append(verdict.share)
    assert shares[0] == pytest.approx(DECREASE_FACTOR)
    assert shares[1] == pytest.approx(DECREASE_FACTOR**2)
    assert shares == sorted(shares, reverse=True)
    assert shares[-1] == MIN_SHARE, "a trickle keeps the confirming path busy"


def test_past_twice_the_budget_nothing_is_admitted() -> None:
    verdict = decide(
        Backlog(oldest_waiting_booking=2.1), budget_seconds=1.0, previous=Verdict(share=0.5)
    )
    assert verdict.share == 0.0


def test_under_budget_the_share_grows_back_by_steps_until_everything_is_admitted() -> None:
    verdict = Verdict(share=0.5)
    under = Backlog(oldest_waiting_booking=0.2)
    steps = []
    while not verdict.admit:
        verdict = decide(under, budget_seconds=1.0, previous=verdict)
        steps.append(verdict.share)
    assert steps[0] == pytest.approx(0.5 + INCREASE_STEP)
    assert len(steps) == round(0.5 / INCREASE_STEP)
    assert verdict == Verdict()


def test_the_gate_admits_the_share_evenly_and_refuses_the_first_call() -> None:
    gate = ShareGate()
    admitted = [gate.admit(0.25) for _ in range(100)]
    assert admitted[:4] == [False, False, False, True]
    assert sum(admitted) == 25
    assert not any(ShareGate().admit(0.0) for _ in range(50))
    assert all(ShareGate().admit(1.0) for _ in range(5))


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
