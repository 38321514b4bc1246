"""devstack.flow.hops: which booking a record belongs to, hops in wire order, states."""

from __future__ import annotations

from typing import Any

from contract import topics
from devstack.flow.hops import Journeys, Record, State, booking_id_of

BOOKING = "b-1"
SLOT = "s-1"


def _booking_event(status: str) -> dict[str, Any]:
    return {"booking": {"id": BOOKING, "providerAvailabilityId": SLOT, "status": status}}


def _record(topic: str, event_type: str, data: dict[str, Any], at: int, offset: int) -> Record:
    return Record(topic, event_type, SLOT, data, timestamp_ms=at, partition=0, offset=offset)


REQUEST = _record(topics.BOOKING_REQUESTS, "BOOKING_CREATION_REQUEST", {"id": BOOKING}, 1000, 1)
REPLY = _record(
    topics.BOOKING_REPLIES, "BOOKING_REQUEST_CONFIRMED", {"bookingId": BOOKING}, 1040, 2
)
CONFIRMED = _record(
    topics.CAREPLAN_BOOKINGS, "BOOKING_CONFIRMED", _booking_event("CONFIRMED"), 1100, 3
)
INSURED = _record(
    topics.CAREPLAN_BOOKINGS_INSURED, "BOOKING_CONFIRMED", _booking_event("CONFIRMED"), 1350, 4
)


def test_each_booking_topic_names_the_booking_by_its_contract_field() -> None:
    assert [booking_id_of(r) for r in (REQUEST, REPLY, CONFIRMED, INSURED)] == [BOOKING] * 4


def test_an_availability_record_is_no_booking_hop() -> None:
    record = _record(topics.PROVIDER_AVAILABILITY, "AVAILABILITY_CREATED", {"id": "x"}, 1, 1)
    assert Journeys().add(record) is None


def test_hops_are_ordered_by_record_time_whatever_order_they_are_read_in() -> None:
    journeys = Journeys()
    for record in (INSURED, REQUEST, CONFIRMED, REPLY):
        journeys.add(record)
    journey = journeys.get(BOOKING)
    assert journey is not None
    assert [h.topic for h in journey.hops] == [
        topics.BOOKING_REQUESTS,
        topics.BOOKING_REPLIES,
        topics.CAREPLAN_BOOKINGS,
        topics.CAREPLAN_BOOKINGS_INSURED,
    ]
    assert [h.latency_ms for h in journey.hops] == [None, 40, 60, 250]
    assert journey.state is State.CONFIRMED


def test_a_record_read_twice_is_one_hop() -> None:
    journeys = Journeys()
    journeys.add(REQUEST)
    journeys.add(REQUEST)
    journey = journeys.get(BOOKING)
    assert journey is not None
    assert len(journey.hops) == 1


def test_the_latest_state_follows_the_latest_hop() -> None:
    journeys = Journeys()
    journeys.add(REQUEST)
    assert journeys.latest()[0].state is State.WAITING
    journeys.add(
        _record(topics.CAREPLAN_BOOKINGS, "BOOKING_EXPIRED", _booking_event("EXPIRED"), 1200, 9)
    )
    assert journeys.latest()[0].state is State.EXPIRED


def test_only_the_newest_bookings_are_kept_newest_first() -> None:
    journeys = Journeys(keep=2)
    for index in range(3):
        journeys.add(
            Record(
                topics.BOOKING_REQUESTS, "BOOKING_CREATION_REQUEST", "k", {"id": f"b{index}"}, index
            )
        )
    assert [j.booking_id for j in journeys.latest()] == ["b2", "b1"]


def test_a_derived_record_with_its_inputs_timestamp_is_timed_by_when_it_was_seen() -> None:
    journeys = Journeys()
    confirmed = _record(
        topics.CAREPLAN_BOOKINGS, "BOOKING_CONFIRMED", _booking_event("CONFIRMED"), 1100, 3
    )
    # The insurance processor keeps careplan.bookings' timestamp on what it derives.
    insured = Record(
        topics.CAREPLAN_BOOKINGS_INSURED,
        "BOOKING_CONFIRMED",
        BOOKING,
        _booking_event("CONFIRMED"),
        timestamp_ms=1100,
        partition=0,
        offset=4,
        seen_ms=1320,
    )
    journeys.add(insured)
    journeys.add(confirmed)
    journey = journeys.get(BOOKING)
    assert journey is not None
    assert [h.topic for h in journey.hops] == [
        topics.CAREPLAN_BOOKINGS,
        topics.CAREPLAN_BOOKINGS_INSURED,
    ]
    assert journey.hops[1].latency_ms == 220
