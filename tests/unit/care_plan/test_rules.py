"""Rules that do not depend on a booking's state."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from care_plan.domain.errors import InvalidPatientError
from care_plan.domain.rules import (
    SlotHold,
    Stamp,
    check_date_of_birth,
    default_payment_mode,
    refusal,
    supersedes,
)
from contract.events import PaymentMode

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("requested", "has_insurance", "expected"),
    [
        (None, True, PaymentMode.INSURANCE_PAY),
        (None, False, PaymentMode.SELF_PAY),
        (PaymentMode.SELF_PAY, True, PaymentMode.SELF_PAY),
        (PaymentMode.INSURANCE_PAY, False, PaymentMode.INSURANCE_PAY),
    ],
)
def test_payment_mode_defaults_to_insurance_when_the_patient_has_a_profile(
    requested: PaymentMode | None, has_insurance: bool, expected: PaymentMode
) -> None:
    assert default_payment_mode(requested, has_insurance=has_insurance) is expected


def test_birth_date_today_is_valid() -> None:
    check_date_of_birth(date(2026, 11, 25), today=date(2026, 11, 25))


def test_birth_date_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidPatientError, match="future"):
        check_date_of_birth(date(2026, 11, 26), today=date(2026, 11, 25))


def test_implausibly_old_birth_date_is_refused() -> None:
    with pytest.raises(InvalidPatientError, match="150 years"):
        check_date_of_birth(date(1850, 1, 1), today=date(2026, 11, 25))


def test_a_newer_version_supersedes() -> None:
    assert supersedes(Stamp(3, T0), Stamp(2, LATER), incoming_deletes=False, current_deleted=False)


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_or_the_same_version_never_overwrites(version: int) -> None:
    assert not supersedes(
        Stamp(version, LATER), Stamp(2, T0), incoming_deletes=False, current_deleted=False
    )


def test_without_versions_the_event_time_decides() -> None:
    newer, older = Stamp(None, LATER), Stamp(None, T0)
    assert supersedes(newer, older, incoming_deletes=False, current_deleted=False)
    assert not supersedes(older, newer, incoming_deletes=False, current_deleted=False)
    assert not supersedes(older, older, incoming_deletes=False, current_deleted=False)


def test_a_version_on_one_side_only_falls_back_to_time() -> None:
    assert not supersedes(
        Stamp(9, T0), Stamp(None, LATER), incoming_deletes=False, current_deleted=False
    )
    assert supersedes(
        Stamp(None, LATER), Stamp(9, T0), incoming_deletes=False, current_deleted=False
    )


def test_nothing_revives_a_deleted_slot() -> None:
    assert not supersedes(
        Stamp(99, LATER), Stamp(2, T0), incoming_deletes=False, current_deleted=True
    )
    assert not supersedes(
        Stamp(99, LATER), Stamp(2, T0), incoming_deletes=True, current_deleted=True
    )


def test_a_deletion_applies_even_without_a_newer_stamp() -> None:
    assert supersedes(Stamp(1, T0), Stamp(2, LATER), incoming_deletes=True, current_deleted=False)


def test_a_free_slot_can_be_booked() -> None:
    assert refusal(SlotHold(deleted=False, held_by=None)) is None


def test_a_deleted_or_held_slot_is_refused_with_a_reason() -> None:
    assert refusal(SlotHold(deleted=True, held_by=None)) == "the provider deleted this availability"
    assert refusal(SlotHold(deleted=False, held_by=uuid.uuid4())) == (
        "the availability is held by another booking"
    )


def test_a_slot_the_provider_reports_booked_elsewhere_is_refused() -> None:
    assert refusal(SlotHold(deleted=False, held_by=None, held_elsewhere=uuid.uuid4())) == (
        "the provider reports the availability as booked by another booking"
    )


def test_future_birth_date_refusal_says_why() -> None:
    with pytest.raises(InvalidPatientError) as refused:
        check_date_of_birth(date(2026, 11, 26), today=date(2026, 11, 25))
    assert str(refused.value) == "dateOfBirth must not be in the future"


def test_birth_year_exactly_the_oldest_plausible_age_ago_is_valid() -> None:
    check_date_of_birth(date(1876, 1, 1), today=date(2026, 11, 25))


def test_without_versions_or_times_on_both_sides_arrival_order_decides() -> None:
    timed = Stamp(version=None, time=datetime(2026, 11, 25, tzinfo=UTC))
    bare = Stamp(version=None, time=None)
    for incoming, current in [(bare, bare), (timed, bare), (bare, timed)]:
        assert supersedes(incoming, current, incoming_deletes=False, current_deleted=False)
