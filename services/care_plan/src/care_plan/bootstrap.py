"""The composition root: builds the engine, producer, saga and workers from settings.

Nothing is built at import; ``main`` calls ``build`` once, tests call it with their settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from care_plan.messaging import projector, replies
from care_plan.messaging.projector import AvailabilityProjector
from care_plan.messaging.replies import BookingReplyHandler
from care_plan.messaging.sweeper import ExpirySweeper
from care_plan.persistence import tables
from care_plan.saga import BookingSaga
from care_plan.settings import Settings
from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.health import ReadinessCheck, database_check, kafka_check
from eventing.inbox import Inbox, idempotent
from eventing.outbox import Outbox
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay
from eventing.supervision import Worker

# A record that cannot be handled because the database is away is retried for about two
# minutes before it is parked, holding its partition back meanwhile: parking a valid reply
# would only let its booking expire. A record that breaks the contract is parked at once.
TRANSIENT_RETRY = RetryPolicy(attempts=30, initial_backoff_seconds=0.2, max_backoff_seconds=5.0)


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AsyncProducer
    saga: BookingSaga
    readiness: dict[str, ReadinessCheck]


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database.database_url,
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.pool_size,
        pool_pre_ping=True,
        # JSON built by PostgreSQL shows times in the session's zone: make that UTC.
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "care-plan"}},
    )


def build_saga(settings: Settings) -> BookingSaga:
    return BookingSaga(
        outbox=Outbox(tables.outbox), timeout=timedelta(seconds=settings.booking_timeout_seconds)
    )


def build(settings: Settings) -> Container:
    engine = create_engine(settings)
    client_config = settings.kafka.client_config()
    return Container(
        settings=settings,
        engine=engine,
        sessions=async_sessionmaker(engine, expire_on_commit=False),
        producer=AsyncProducer(client_config),
        saga=build_saga(settings),
        readiness={"database": database_check(engine), "kafka": kafka_check(client_config)},
    )


def workers(container: Container) -> dict[str, Worker]:
    """The background work the service runs beside the API, by name."""
    settings, sessions, saga = container.settings, container.sessions, container.saga
    client_config = settings.kafka.client_config()
    project, answer = AvailabilityProjector(saga), BookingReplyHandler(saga)

    async def project_availability(session: AsyncSession, event: Event) -> None:
        await project(session, event)

    async def handle_reply(session: AsyncSession, event: Event) -> None:
        await answer(session, event)

    relay = OutboxRelay(
        dsn=settings.database.asyncpg_dsn, table=tables.outbox, producer=container.producer
    )
    availability = ConsumerRunner(
        client_config=client_config,
        group_id=f"{settings.consumer_group}.availability-projector",
        topics=[settings.availability_topic],
        handler=idempotent(
            sessions, Inbox(tables.inbox, projector.INBOX_CONSUMER), project_availability
        ),
        producer=container.producer,
        retry=TRANSIENT_RETRY,
    )
    booking_replies = ConsumerRunner(
        client_config=client_config,
        group_id=f"{settings.consumer_group}.booking-replies",
        topics=[settings.booking_replies_topic],
        handler=idempotent(sessions, Inbox(tables.inbox, replies.INBOX_CONSUMER), handle_reply),
        producer=container.producer,
        retry=TRANSIENT_RETRY,
    )
    sweeper = ExpirySweeper(sessions, saga, interval_seconds=settings.effective_sweep_interval)
    return {
        "outbox-relay": relay.run,
        "availability-projector": availability.run,
        "booking-replies": booking_replies.run,
        "expiry-sweeper": sweeper.run,
    }


async def close(container: Container) -> None:
    await asyncio.to_thread(container.producer.close, 10.0)
    await container.engine.dispose()
