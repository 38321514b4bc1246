"""The expiry sweeper does not punish our own outage: a booking whose reply is already waiting
on the replies topic is not expired while the reply consumer is away, however late it is; a
booking that really got no reply in time is.

A database and topics of their own, and no running service: the test plays the outage by not
starting the reply consumer, then starts it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import pytest
from pydantic import SecretStr

from care_plan import bootstrap
from care_plan.bootstrap import Container
from care_plan.domain import commands
from care_plan.domain.model import Patient
from care_plan.messaging.projector import availability_projector
from care_plan.messaging.reply_progress import ReplyProgress
from care_plan.messaging.sweeper import ExpirySweeper
from care_plan.service_layer import handlers
from care_plan.settings import Settings
from devstack.settings import DevstackSettings
from eventing.settings import DatabaseSettings, KafkaSettings
from tests.integration.care_plan.support import (
    FakeProvider,
    create_database,
    drop_database,
    eventually,
    new_slot,
)
from tests.support.kafka import unique_topic

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 0.5


@dataclass
class Outage:
    container: Container
    provider: FakeProvider
    progress: ReplyProgress

    def sweeper(self) -> ExpirySweeper:
        return ExpirySweeper(
            self.container.units,
            self.container.clock,
            replies_read_until=self.progress.caught_up_as_of,
            interval_seconds=0.1,
        )

    async def waiting_booking(self) -> tuple[uuid.UUID, uuid.UUID]:
        """A booking of a fresh slot, waiting for its reply; (booking id, slot id)."""
        slot = new_slot()
        event = self.provider.availability("CREATED", slot, version=1)
        patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1990, 1, 1), None)
        units = self.container.units
        async with self.container.database.transaction() as connection:
            await availability_projector(units)(connection, [event])
        async with units.begin() as uow:
            await handlers.register_patient(commands.RegisterPatient(patient), uow)
        requested = await handlers.request_booking(
            commands.RequestBooking(patient.id, slot.id), units, self.container.clock
        )
        return requested.booking.id, slot.id

    async def status(self, booking_id: uuid.UUID) -> str:
        async with self.container.units.reading() as uow:
            booking = await uow.bookings.get(booking_id)
        assert booking is not None
        return booking.status.value


@pytest.fixture
async def outage(infrastructure: DevstackSettings) -> AsyncIterator[Outage]:
    url = await create_database(infrastructure, "care_plan_expiry")
    replies = unique_topic(infrastructure, "care-plan.expiry-replies", partitions=3)
    settings = Settings(
        environment="test",
        api_key=SecretStr("expiry-test-key"),
        booking_timeout_seconds=TIMEOUT_SECONDS,
        consumer_group=f"care-plan-expiry-{uuid.uuid4().hex[:8]}",
        kafka=KafkaSettings(bootstrap_servers=infrastructure.bootstrap_servers),
        database=DatabaseSettings(database_url=url),
        availability_topic=unique_topic(infrastructure, "care-plan.expiry-availability"),
        booking_replies_topic=replies,
    )
    container = bootstrap.build(settings)
    await container.database.open()
    progress = ReplyProgress(
        settings.kafka.client_config(),
        group_id=f"{settings.consumer_group}.booking-replies",
        topic=replies,
    )
    provider = FakeProvider(infrastructure.bootstrap_servers, replies_topic=replies)
    try:
        yield Outage(container, provider, progress)
    finally:
        progress.close()
        await bootstrap.close(container)
        await drop_database(infrastructure, url)


async def test_a_booking_whose_reply_waits_unread_is_not_expired_and_is_confirmed_later(
    outage: Outage,
) -> None:
    booking_id, slot_id = await outage.waiting_booking()
    outage.provider.reply(booking_id, slot_id, confirmed=True)
    await asyncio.sleep(TIMEOUT_SECONDS * 3)  # long past the deadline: Care Plan is "down"

    assert await outage.sweeper().sweep_once() == 0
    assert await outage.status(booking_id) == "WAITING_FOR_CONFIRMATION"

    # Care Plan is back: the reply consumer reads the waiting reply.
    stop = asyncio.Event()
    replies = asyncio.create_task(bootstrap.workers(outage.container)["booking-replies"](stop))
    try:
        await eventually(
            lambda: _is(outage, booking_id, "CONFIRMED"), what="the waiting reply applied"
        )
    finally:
        stop.set()
        await replies
    assert await outage.sweeper().sweep_once() == 0


async def test_a_booking_that_got_no_reply_in_time_expires(outage: Outage) -> None:
    booking_id, _ = await outage.waiting_booking()
    await asyncio.sleep(TIMEOUT_SECONDS * 2)

    assert await outage.sweeper().sweep_once() == 1
    assert await outage.status(booking_id) == "EXPIRED"


async def _is(outage: Outage, booking_id: uuid.UUID, status: str) -> bool:
    return await outage.status(booking_id) == status
