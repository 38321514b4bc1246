"""The composition root: builds the engine, producer, units of work and workers from settings.

Nothing is built at import; ``main`` calls ``build`` once, tests call it with their settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from care_plan.messaging import projector, replies
from care_plan.messaging.outgoing import to_messages
from care_plan.messaging.reply_progress import ReplyProgress
from care_plan.messaging.sweeper import ExpirySweeper
from care_plan.persistence import backlog, tables
from care_plan.service_layer.handlers import BookingClock
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from care_plan.settings import Settings
from eventing.admission import AdmissionMonitor
from eventing.audit import AuditLog
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.database import Database, PoolOptions
from eventing.dead_letter_depth import DeadLetterDepthMonitor
from eventing.health import ReadinessCheck, database_check, kafka_check
from eventing.inbox import Inbox, idempotent, idempotent_set, one_at_a_time
from eventing.outbox import Outbox, qualified_name
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay
from eventing.retention import RetentionPurger, RetentionRule
from eventing.supervision import Worker
from telemetry import Tracing


# A database or network outage uses up none of these attempts: the consumer runner waits it out
# (eventing.consumer.is_outage). Other transient failures are retried (by default about two
# minutes, CONSUMER_RETRY_ATTEMPTS) before the record is parked, holding its partition back
# meanwhile: parking a valid reply would only let its booking expire. A record that breaks the
# contract is parked at once.
def transient_retry(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.consumer_retry_attempts,
        initial_backoff_seconds=0.2,
        max_backoff_seconds=5.0,
    )


# The background workers' own connections: the two consumers, the sweeper and the purger
# each hold at most one at a time.
WORKER_CONNECTIONS = 4


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    database: Database
    producer: AsyncProducer
    units: UnitOfWorkFactory
    clock: BookingClock
    readiness: dict[str, ReadinessCheck]
    informational: dict[str, ReadinessCheck]
    admission: AdmissionMonitor
    audit: AuditLog
    tracing: Tracing = field(default_factory=Tracing)


def create_database(settings: Settings) -> Database:
    return Database(
        settings.database.database_url,
        PoolOptions(
            max_size=2 * settings.database.pool_size,
            application_name="care-plan",
            workers_max_size=WORKER_CONNECTIONS,
        ),
    )


def build_units(database: Database) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(
        database,
        outbox=Outbox(tables.outbox),
        messages=to_messages,
        audit=AuditLog(database, tables.SCHEMA),
    )


def build(settings: Settings, *, tracing: Tracing | None = None) -> Container:
    database = create_database(settings)
    client_config = settings.kafka.client_config()
    outbox, timeout = Outbox(tables.outbox), timedelta(seconds=settings.booking_timeout_seconds)
    return Container(
        settings=settings,
        database=database,
        producer=AsyncProducer(client_config),
        units=build_units(database),
        audit=AuditLog(database, tables.SCHEMA),
        clock=BookingClock(timeout),
        readiness={"database": database_check(database)},
        # Reported, not required: writes go to the outbox while the broker is away.
        informational={"kafka": kafka_check(client_config)},
        admission=AdmissionMonitor(
            lambda: backlog.measure(database, outbox, timeout),
            service="care-plan",
            budget_seconds=settings.effective_admission_budget,
        ),
        tracing=tracing or Tracing(),
    )


def workers(container: Container) -> dict[str, Worker]:
    """The background work the service runs beside the API, by name."""
    settings, database = container.settings, container.database.workers
    units = build_units(database)
    client_config = settings.kafka.client_config()
    projector_inbox = Inbox(tables.inbox, projector.INBOX_CONSUMER)
    replies_inbox = Inbox(tables.inbox, replies.INBOX_CONSUMER)
    replies_group = f"{settings.consumer_group}.booking-replies"
    project = projector.availability_projector(units)
    answer = replies.booking_replies_handler(units)

    relay = OutboxRelay(
        dsn=settings.database.asyncpg_dsn,
        table=tables.outbox,
        producer=container.producer,
        tracing=container.tracing,
    )
    availability = ConsumerRunner(
        client_config=client_config,
        group_id=f"{settings.consumer_group}.availability-projector",
        topics=[settings.availability_topic],
        handler=idempotent(database, projector_inbox, one_at_a_time(project)),
        batch_handler=idempotent_set(database, projector_inbox, project),
        producer=container.producer,
        retry=transient_retry(settings),
        tracing=container.tracing,
    )
    booking_replies = ConsumerRunner(
        client_config=client_config,
        group_id=replies_group,
        topics=[settings.booking_replies_topic],
        handler=idempotent(database, replies_inbox, one_at_a_time(answer)),
        batch_handler=idempotent_set(database, replies_inbox, answer),
        producer=container.producer,
        retry=transient_retry(settings),
        tracing=container.tracing,
    )

    async def sweep(stop: asyncio.Event) -> None:
        progress = ReplyProgress(
            client_config, group_id=replies_group, topic=settings.booking_replies_topic
        )
        sweeper = ExpirySweeper(
            units,
            container.clock,
            replies_read_until=progress.caught_up_as_of,
            interval_seconds=settings.effective_sweep_interval,
        )
        try:
            await sweeper.run(stop)
        finally:
            await asyncio.to_thread(progress.close)

    return {
        "outbox-relay": relay.run,
        "availability-projector": availability.run,
        "booking-replies": booking_replies.run,
        "expiry-sweeper": sweep,
        "admission-monitor": container.admission.run,
        "retention": RetentionPurger(
            database,
            [RetentionRule(qualified_name(tables.inbox), "processed_at", settings.inbox_retention)],
            interval_seconds=settings.retention_interval_seconds,
        ).run,
        "dead-letter-depth": DeadLetterDepthMonitor(
            client_config, [settings.availability_topic, settings.booking_replies_topic]
        ).run,
    }


async def close(container: Container) -> None:
    await asyncio.to_thread(container.producer.close, 10.0)
    await container.database.close()
