"""The composition root: builds the engine, producer, relay, consumer and unit-of-work factory
from the settings. Nothing is built at import; tests call ``bootstrap`` with their settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from confluent_kafka import KafkaException

from eventing.admission import AdmissionMonitor, Backlog
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.database import Database, PoolOptions
from eventing.dead_letter_depth import DeadLetterDepthMonitor
from eventing.health import ReadinessCheck, database_check, kafka_check
from eventing.inbox import Inbox, idempotent, idempotent_set, one_at_a_time
from eventing.outbox import Outbox, qualified_name
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay
from eventing.retention import RetentionPurger, RetentionRule
from eventing.supervision import WorkerGroup
from provider_schedule.messaging.events import MessageMapper
from provider_schedule.messaging.handlers import INBOX_CONSUMER, booking_responder
from provider_schedule.persistence import tables
from provider_schedule.persistence.unit_of_work import UnitOfWorkFactory
from provider_schedule.settings import ProviderScheduleSettings
from telemetry import Tracing

logger = logging.getLogger(__name__)

# A database or network outage uses up none of these attempts: the consumer runner waits it out
# (eventing.consumer.is_outage) and the record is never parked for it. The attempts are for the
# other transient failures of a booking request: about 16 s of backoff before it is parked.
BOOKING_RETRY = RetryPolicy(attempts=8, initial_backoff_seconds=0.2, max_backoff_seconds=5.0)


@dataclass
class Container:
    settings: ProviderScheduleSettings
    database: Database
    units: UnitOfWorkFactory
    producer: AsyncProducer
    relay: OutboxRelay
    consumer: ConsumerRunner
    readiness: dict[str, ReadinessCheck]
    informational: dict[str, ReadinessCheck]
    admission: AdmissionMonitor
    dead_letter_depth: DeadLetterDepthMonitor
    retention: RetentionPurger
    workers: WorkerGroup = field(init=False)

    def __post_init__(self) -> None:
        self.workers = WorkerGroup(
            {
                "outbox-relay": self.relay.run,
                "booking-responder": self.consumer.run,
                "admission-monitor": self.admission.run,
                "dead-letter-depth": self.dead_letter_depth.run,
                "retention": self.retention.run,
            }
        )

    async def open(self) -> None:
        await self.database.open()

    async def start(self) -> None:
        """Run the outbox relay and the booking responder in the background, each restarted
        with a backoff if it fails (a broker or database outage)."""
        self.workers.start()

    async def stop(self, timeout: float = 15.0) -> None:
        """Let the loops finish the record or batch in hand, then close the clients."""
        await self.workers.stop(timeout)
        try:
            await asyncio.to_thread(self.producer.close, timeout)
        except KafkaException as error:
            # Whatever was not delivered is still in the outbox: the next relay sends it.
            logger.warning("producer closed with undelivered records", extra={"error": str(error)})
        finally:
            await self.database.close()


def retention_purger(
    settings: ProviderScheduleSettings, database: Database, *, batch_size: int = 1000
) -> RetentionPurger:
    return RetentionPurger(
        database,
        [
            RetentionRule(qualified_name(tables.inbox), "processed_at", settings.inbox_retention),
            RetentionRule(
                qualified_name(tables.cancelled_bookings),
                "cancelled_at",
                settings.cancelled_bookings_retention,
            ),
        ],
        batch_size=batch_size,
        interval_seconds=settings.retention_interval_seconds,
    )


# The background workers' own connections: the responder and the purger hold one each.
WORKER_CONNECTIONS = 2


def bootstrap(settings: ProviderScheduleSettings, *, tracing: Tracing | None = None) -> Container:
    kafka_config = settings.kafka.client_config()
    database = Database(
        settings.database.database_url,
        PoolOptions(
            max_size=settings.database.pool_size,
            application_name="provider-schedule",
            workers_max_size=WORKER_CONNECTIONS,
        ),
    )
    units = UnitOfWorkFactory(
        database, outbox=Outbox(tables.outbox), messages=MessageMapper(settings.topics)
    )
    # The responder answers through the workers' connections (``Database.workers``): a
    # burst of availability writes does not hold up the booking requests.
    responder_units = UnitOfWorkFactory(
        database.workers, outbox=Outbox(tables.outbox), messages=MessageMapper(settings.topics)
    )
    inbox = Inbox(tables.inbox, INBOX_CONSUMER)
    respond = booking_responder(responder_units)
    producer = AsyncProducer({**kafka_config, "client.id": "provider-schedule"})
    relay = OutboxRelay(
        dsn=settings.database.asyncpg_dsn, table=tables.outbox, producer=producer, tracing=tracing
    )
    consumer = ConsumerRunner(
        client_config=kafka_config,
        group_id=settings.consumer_group,
        topics=[settings.topics.booking_requests],
        handler=idempotent(database.workers, inbox, one_at_a_time(respond)),
        batch_handler=idempotent_set(database.workers, inbox, respond),
        producer=producer,
        retry=BOOKING_RETRY,
        poll_timeout=settings.consumer_poll_seconds,
        tracing=tracing,
    )
    outbox = Outbox(tables.outbox)

    async def outbox_backlog() -> Backlog:
        async with database.probe_connection() as connection:
            age, waiting = await outbox.backlog(connection)
        return Backlog(oldest_unpublished_event=age, unpublished_events=waiting)

    return Container(
        admission=AdmissionMonitor(
            outbox_backlog,
            service="provider-schedule",
            budget_seconds=settings.admission_budget_seconds,
        ),
        dead_letter_depth=DeadLetterDepthMonitor(kafka_config, [settings.topics.booking_requests]),
        retention=retention_purger(settings, database.workers),
        settings=settings,
        database=database,
        units=units,
        producer=producer,
        relay=relay,
        consumer=consumer,
        readiness={"database": database_check(database)},
        # Reported, not required: writes go to the outbox while the broker is away.
        informational={"kafka": kafka_check(kafka_config)},
    )
