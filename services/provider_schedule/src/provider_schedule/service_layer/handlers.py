"""The use cases of the schedule, one function per command, each inside one unit of work.

Every state change publishes its events through ``uow.publish`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from provider_schedule.domain import commands
from provider_schedule.domain.decisions import (
    BookingDecision,
    Confirmed,
    decide_booking,
    decide_cancellation,
)
from provider_schedule.domain.errors import AvailabilityNotFoundError, ProviderNotFoundError
from provider_schedule.domain.events import (
    AvailabilityChanged,
    BookingAnswered,
    Change,
    DomainEvent,
)
from provider_schedule.domain.model import Availability, Provider, TimeRange
from provider_schedule.persistence.repository import Lock
from provider_schedule.persistence.unit_of_work import UnitOfWork

# --- providers -------------------------------------------------------------------------------


async def register_provider(command: commands.RegisterProvider, uow: UnitOfWork) -> Provider:
    # A provider without slots is nobody's business on Kafka yet: no event.
    provider = Provider.register(command.profile)
    await uow.providers.add(provider)
    return provider


async def get_provider(provider_id: UUID, uow: UnitOfWork) -> Provider:
    return await _live_provider(uow, provider_id)


async def list_providers(uow: UnitOfWork, *, offset: int, limit: int) -> tuple[list[Provider], int]:
    return await uow.providers.page(offset=offset, limit=limit)


async def update_provider(command: commands.UpdateProvider, uow: UnitOfWork) -> Provider:
    """Change the profile and republish every live slot, so that consumers' copies (which
    carry the provider) stay current. Nothing is written when nothing changes."""
    provider = await _live_provider(uow, command.provider_id, lock=Lock.UPDATE)
    updated = provider.with_profile(command.changes.applied_to(provider.profile))
    if updated == provider:
        return provider
    await uow.providers.save(updated)
    slots = await uow.availabilities.live_of_provider(provider.id, lock=Lock.UPDATE)
    republished = [slot.republished() for slot in slots]
    await uow.availabilities.save_all(
        [(new, old.version) for new, old in zip(republished, slots, strict=True)]
    )
    await uow.publish(*(AvailabilityChanged(Change.UPDATED, updated, s) for s in republished))
    return updated


async def delete_provider(command: commands.DeleteProvider, uow: UnitOfWork) -> None:
    """Delete the provider and its slots (each deletion published), instead of failing on the
    slots' foreign key. Both are kept as deleted rows: see ``delete_availability``."""
    provider = await _live_provider(uow, command.provider_id, lock=Lock.UPDATE)
    now = datetime.now(UTC)
    slots = await uow.availabilities.live_of_provider(provider.id, lock=Lock.UPDATE)
    deleted = [slot.deleted(now) for slot in slots]
    await uow.availabilities.save_all(
        [(new, old.version) for new, old in zip(deleted, slots, strict=True)]
    )
    await uow.providers.save(provider.deleted(now))
    await uow.publish(*(AvailabilityChanged(Change.DELETED, provider, s) for s in deleted))


# --- availability ----------------------------------------------------------------------------


async def add_availability(command: commands.AddAvailability, uow: UnitOfWork) -> Availability:
    """An overlap with a live slot of the provider fails on the exclusion constraint."""
    time_range = TimeRange(command.from_date, command.to_date)
    provider = await _live_provider(uow, command.provider_id, lock=Lock.SHARE)
    slot = Availability.open(provider.id, time_range, command.encounter_type)
    await uow.availabilities.add(slot)
    await uow.publish(AvailabilityChanged(Change.CREATED, provider, slot))
    return slot


async def list_availability(provider_id: UUID, uow: UnitOfWork) -> list[Availability]:
    await _live_provider(uow, provider_id)
    return await uow.availabilities.live_of_provider(provider_id)


async def get_availability(
    provider_id: UUID, availability_id: UUID, uow: UnitOfWork
) -> Availability:
    await _live_provider(uow, provider_id)
    return await _live_slot(uow, provider_id, availability_id)


async def update_availability(
    command: commands.UpdateAvailability, uow: UnitOfWork
) -> Availability:
    time_range = TimeRange(command.from_date, command.to_date)
    provider = await _live_provider(uow, command.provider_id, lock=Lock.SHARE)
    slot = await _live_slot(uow, provider.id, command.availability_id, lock=Lock.UPDATE)
    changed = slot.rescheduled(time_range, command.encounter_type)
    if changed is slot:
        return slot
    await uow.availabilities.save(changed, previous_version=slot.version)
    await uow.publish(AvailabilityChanged(Change.UPDATED, provider, changed))
    return changed


async def delete_availability(command: commands.DeleteAvailability, uow: UnitOfWork) -> None:
    """A soft delete: the row stays (not listed, not bookable, its time free again) so that
    the booking responder can answer "slot deleted" rather than "unknown slot", bookings keep a
    slot they can refer to, and the version keeps growing for consumers."""
    provider = await _live_provider(uow, command.provider_id, lock=Lock.SHARE)
    slot = await _live_slot(uow, provider.id, command.availability_id, lock=Lock.UPDATE)
    deleted = slot.deleted(datetime.now(UTC))
    await uow.availabilities.save(deleted, previous_version=slot.version)
    await uow.publish(AvailabilityChanged(Change.DELETED, provider, deleted))


# --- booking requests ------------------------------------------------------------------------


async def request_booking(command: commands.RequestBooking, uow: UnitOfWork) -> BookingDecision:
    """Decide, record and reply in the caller's transaction (the inbox's)."""
    [decision] = await answer_requests([command], uow)
    assert not isinstance(decision, bool)
    return decision


async def cancel_booking(command: commands.CancelBooking, uow: UnitOfWork) -> bool:
    """Remember the cancellation and free the slot if this booking holds it; True when it
    did. No reply: the contract has none for cancellations."""
    [freed] = await answer_requests([command], uow)
    assert isinstance(freed, bool)
    return freed


async def answer_requests(
    requests: Sequence[commands.BookingRequest],
    uow: UnitOfWork,
    *,
    traceparents: Sequence[str | None] | None = None,
) -> list[BookingDecision | bool]:
    """Care Plan's booking requests, in order, in the caller's transaction (the inbox's):
    for a creation its decision (replied to), for a cancellation whether it freed the slot
    (no reply: the contract has none). Each request's events continue the trace at the same
    position in ``traceparents``, else the unit of work's.

    A creation decides under the slot's lock; a booking whose cancellation came first is
    rejected (it must never take the slot), and a cancellation is remembered either way
    (``domain.decisions``). A handful of statements whatever the number of requests (the
    consumer hands it a poll's worth), with the effects of one request seen by the next, as
    if each had its own transaction: locks in id order, the decisions in memory, then one
    write of each kind."""
    slots = await uow.availabilities.get_many(
        {request.availability_id for request in requests}, lock=Lock.UPDATE
    )
    read_at = {slot_id: slot.version for slot_id, slot in slots.items()}
    cancelled = await uow.cancelled_bookings.among({request.booking_id for request in requests})
    newly_cancelled: dict[UUID, UUID] = {}
    changed: dict[UUID, Availability] = {}
    # Each event with its request's position; a slot change as the slot after it (its
    # provider is read once the decisions are made).
    staged: list[tuple[BookingAnswered | Availability, int]] = []
    outcomes: list[BookingDecision | bool] = []
    for position, request in enumerate(requests):
        slot = slots.get(request.availability_id)
        if isinstance(request, commands.RequestBooking):
            decision = decide_booking(
                slot,
                availability_id=request.availability_id,
                booking_id=request.booking_id,
                booking_cancelled=request.booking_id in cancelled,
            )
            if isinstance(decision, Confirmed):
                if decision.changed and slot is not None:
                    slots[slot.id] = changed[slot.id] = decision.slot
                    staged.append((decision.slot, position))
                answer = BookingAnswered(request.booking_id, request.availability_id)
            else:
                answer = BookingAnswered(
                    request.booking_id, request.availability_id, decision.reason
                )
            staged.append((answer, position))
            outcomes.append(decision)
        else:
            if request.booking_id not in cancelled:
                cancelled.add(request.booking_id)
                newly_cancelled[request.booking_id] = request.availability_id
            freed = decide_cancellation(slot, booking_id=request.booking_id)
            if freed is not None:
                slots[freed.id] = changed[freed.id] = freed
                staged.append((freed, position))
            outcomes.append(freed is not None)
    await uow.cancelled_bookings.record_all(newly_cancelled)
    await uow.availabilities.save_all([(slot, read_at[slot.id]) for slot in changed.values()])
    traced = traceparents or [uow.traceparent] * len(requests)
    await uow.publish_traced(await _events(uow, staged, traced))
    return outcomes


async def _events(
    uow: UnitOfWork,
    staged: Sequence[tuple[BookingAnswered | Availability, int]],
    traceparents: Sequence[str | None],
) -> list[tuple[DomainEvent, str | None]]:
    """The staged answers and slot changes as events with their requests' traceparents. The
    providers are read after the slots' locks were taken: a provider update that committed
    before is seen, and one still running waits for the locks and republishes the slots
    after us."""
    providers = await uow.providers.get_many(
        {item.provider_id for item, _ in staged if isinstance(item, Availability)}
    )
    events: list[tuple[DomainEvent, str | None]] = []
    for item, position in staged:
        if isinstance(item, Availability):
            if (provider := providers.get(item.provider_id)) is None:
                raise ProviderNotFoundError(item.provider_id)  # the foreign key forbids it
            events.append(
                (AvailabilityChanged(Change.UPDATED, provider, item), traceparents[position])
            )
        else:
            events.append((item, traceparents[position]))
    return events


# --- lookups ---------------------------------------------------------------------------------


async def _live_provider(
    uow: UnitOfWork, provider_id: UUID, *, lock: Lock | None = None
) -> Provider:
    provider = await uow.providers.get(provider_id, lock=lock)
    if provider is None:
        raise ProviderNotFoundError(provider_id)
    return provider


async def _live_slot(
    uow: UnitOfWork, provider_id: UUID, availability_id: UUID, *, lock: Lock | None = None
) -> Availability:
    slot = await uow.availabilities.get(availability_id, lock=lock)
    if slot is None or slot.is_deleted or slot.provider_id != provider_id:
        raise AvailabilityNotFoundError(provider_id, availability_id)
    return slot
