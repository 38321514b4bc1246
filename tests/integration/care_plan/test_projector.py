"""The availability projector on the real topic: idempotent and ordered. A duplicate or an
older event never overwrites newer state, whatever partition it came through."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from contract import sources
from eventing.cloudevents import Event
from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import FakeProvider, KafkaTap, Slot, eventually, new_slot

pytestmark = pytest.mark.integration

PROJECTOR = "care-plan.availability-projector"


async def processed(service: Service, *events: Event) -> None:
    """Wait until the projector has handled every one of ``events`` (its inbox says so)."""
    wanted = {event.id for event in events}

    async def all_in_inbox() -> bool:
        async with service.sessions() as session:
            rows = await session.execute(
                text(
                    "select event_id from care_plan.inbox "
                    "where consumer = :c and event_id = any(:ids)"
                ),
                {"c": PROJECTOR, "ids": list(wanted)},
            )
            return {row.event_id for row in rows} == wanted

    await eventually(all_in_inbox, what="events projected")


async def row(service: Service, slot: Slot) -> dict[str, Any]:
    async with service.sessions() as session:
        found = (
            (
                await session.execute(
                    text(
                        "select speciality, version, event_id, deleted_at, from_date, updated_at "
                        "from care_plan.slots where id = :id"
                    ),
                    {"id": slot.id},
                )
            )
            .mappings()
            .first()
        )
    assert found is not None
    return dict(found)


def renamed(slot: Slot, speciality: str) -> Slot:
    return Slot(**{**slot.__dict__, "speciality": speciality})


async def searchable(service: Service, slot: Slot) -> bool:
    found = await service.client.get("/availability", params={"providerId": str(slot.provider_id)})
    return str(slot.id) in {item["id"] for item in found.json()}


async def test_a_redelivered_or_republished_event_is_applied_once(
    service: Service, provider: FakeProvider
) -> None:
    slot = new_slot()
    first = provider.availability("CREATED", slot, version=1)
    provider.publish(provider.availability_topic, first)  # redelivery: the same ce_id
    # Republished with a new ce_id but the same version: a duplicate by version.
    again = provider.availability("CREATED", renamed(slot, "Changed"), version=1)
    await processed(service, first, again)
    state = await row(service, slot)
    assert (state["speciality"], state["version"], state["event_id"]) == (
        slot.speciality,
        1,
        first.id,
    )


async def test_older_events_never_overwrite_newer_state_across_partitions(
    service: Service, provider: FakeProvider
) -> None:
    slot = new_slot()
    # Keyed by event type, as the Java producer does: the three may use three partitions.
    newest = provider.availability(
        "UPDATED", renamed(slot, "v3"), version=3, key="AVAILABILITY_UPDATED"
    )
    middle = provider.availability("UPDATED", renamed(slot, "v2"), version=2, key="v2")
    oldest = provider.availability(
        "CREATED", renamed(slot, "v1"), version=1, key="AVAILABILITY_CREATED"
    )
    await processed(service, newest, middle, oldest)
    assert (await row(service, slot))["speciality"] == "v3"
    assert (await row(service, slot))["version"] == 3

    moved = Slot(
        **{
            **slot.__dict__,
            "speciality": "v4",
            "from_date": slot.from_date + timedelta(hours=1),
            "to_date": slot.to_date + timedelta(hours=1),
        }
    )
    newer = provider.availability("UPDATED", moved, version=4)
    await processed(service, newer)
    state = await row(service, slot)
    assert (state["speciality"], state["version"], state["from_date"]) == ("v4", 4, moved.from_date)


async def test_without_versions_the_event_time_orders(
    service: Service, provider: FakeProvider
) -> None:
    slot = new_slot()
    now = datetime.now(UTC)
    later = provider.availability("UPDATED", renamed(slot, "later"), version=None, time=now)
    earlier = provider.availability(
        "CREATED", renamed(slot, "earlier"), version=None, time=now - timedelta(seconds=5)
    )
    await processed(service, later, earlier)
    assert (await row(service, slot))["speciality"] == "later"


async def test_a_deleted_slot_stays_deleted(service: Service, provider: FakeProvider) -> None:
    slot = new_slot()
    created = provider.availability("CREATED", slot, version=1)
    await processed(service, created)
    assert await searchable(service, slot)
    deleted = provider.availability("DELETED", slot, version=2)
    stale = provider.availability("UPDATED", renamed(slot, "stale"), version=1)
    await processed(service, deleted, stale)
    state = await row(service, slot)
    assert state["deleted_at"] is not None
    assert (state["speciality"], state["version"]) == (slot.speciality, 2)
    assert not await searchable(service, slot)


async def test_a_deletion_that_overtakes_the_creation_leaves_a_tombstone(
    service: Service, provider: FakeProvider
) -> None:
    slot = new_slot()
    deleted = provider.availability("DELETED", slot, version=2, key="AVAILABILITY_DELETED")
    created = provider.availability("CREATED", slot, version=1, key="AVAILABILITY_CREATED")
    await processed(service, deleted, created)
    assert (await row(service, slot))["deleted_at"] is not None
    assert not await searchable(service, slot)


async def test_an_event_that_breaks_the_contract_is_parked_and_the_next_one_projected(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    slot = new_slot()
    broken = Event.new(
        source=sources.PROVIDER_SCHEDULE,
        type="AVAILABILITY_CREATED",
        data={"id": str(uuid.uuid4()), "availability": {"id": str(slot.id)}},
        key=str(slot.id),
    )
    provider.publish(provider.availability_topic, broken)
    good = provider.availability("CREATED", slot, version=1)
    await processed(service, good)
    [parked] = await tap.wait_for(
        f"{provider.availability_topic}.dlt", lambda seen: seen.event.id == broken.id
    )
    assert parked.key == str(slot.id)
    assert await searchable(service, slot)


async def test_an_unknown_event_type_is_skipped(service: Service, provider: FakeProvider) -> None:
    slot = new_slot()
    unknown = Event.new(
        source=sources.PROVIDER_SCHEDULE,
        type="AVAILABILITY_ARCHIVED",
        data={"whatever": True},
        key=str(slot.id),
    )
    provider.publish(provider.availability_topic, unknown)
    await processed(service, unknown)
    async with service.sessions() as session:
        count = await session.scalar(
            text("select count(*) from care_plan.slots where id = :id"), {"id": slot.id}
        )
    assert count == 0
