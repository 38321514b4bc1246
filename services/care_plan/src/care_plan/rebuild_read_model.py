"""``python -m care_plan.rebuild_read_model``: clear the availability read model and replay
``provider.availability`` from its beginning (the topic is compacted, so the newest event of
every availability is still there).

One transaction: until it commits, searches see the old read model and bookings of a slot being
rebuilt wait for it; then the new one replaces it at once. Events that arrive meanwhile are
projected by the running service too; the version rule makes the order irrelevant. The slots
our live bookings hold are taken again from the bookings table. Exposed as
``careplan care-plan rebuild``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from care_plan import bootstrap
from care_plan.messaging.projector import AvailabilityProjector
from care_plan.persistence.read_model import ReadModel
from care_plan.settings import Settings
from contract import topics
from eventing.cloudevents import MalformedEventError, from_record
from eventing.logging import configure_logging

logger = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    cleared: int = 0
    records: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0


async def rebuild(
    settings: Settings, *, topic: str = topics.PROVIDER_AVAILABILITY, timeout: float = 600.0
) -> RebuildReport:
    """Replay ``topic`` up to its end as of now into an emptied read model."""
    engine = bootstrap.create_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    project = AvailabilityProjector(bootstrap.build_saga(settings))
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            # Assigned partitions, never committed: the service's own group is left alone.
            "group.id": f"{settings.consumer_group}.rebuild-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    report = RebuildReport()
    try:
        ends = await asyncio.to_thread(_ends_of, consumer, topic)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        async with sessions.begin() as session:
            report.cleared = await ReadModel(session).clear()
            deadline = time.monotonic() + timeout
            pending = {p: end for p, end in ends.items() if end > 0}
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic} not replayed within {timeout} s")
                for message in await asyncio.to_thread(consumer.consume, 500, 0.5):
                    if message.error():
                        continue
                    report.records += 1
                    await _apply(project, session, message, report)
                for part in await asyncio.to_thread(
                    consumer.position, [TopicPartition(topic, p) for p in pending]
                ):
                    if part.offset >= pending[part.partition]:
                        del pending[part.partition]
    finally:
        await asyncio.to_thread(consumer.close)
        await engine.dispose()
    logger.info(
        "read model rebuilt",
        extra={
            "topic": topic,
            "cleared": report.cleared,
            "records": report.records,
            "outcomes": report.outcomes,
        },
    )
    return report


def _ends_of(consumer: Consumer, topic: str) -> dict[int, int]:
    metadata = consumer.list_topics(topic, timeout=10)
    if metadata.topics[topic].error is not None:
        raise RuntimeError(f"topic {topic}: {metadata.topics[topic].error}")
    return {
        partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        for partition in metadata.topics[topic].partitions
    }


async def _apply(
    project: AvailabilityProjector, session: AsyncSession, message: Message, report: RebuildReport
) -> None:
    try:
        event = from_record(message.key(), message.value(), message.headers())
        # Validation happens before any write, so skipping a bad record leaves the
        # transaction usable.
        outcome = await project(session, event)
    except (MalformedEventError, ValidationError) as error:
        report.unreadable += 1
        logger.warning(
            "unreadable availability record skipped",
            extra={
                "partition": message.partition(),
                "offset": message.offset(),
                "error": str(error)[:200],
            },
        )
        return
    report.outcomes[outcome.value] = report.outcomes.get(outcome.value, 0) + 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m care_plan.rebuild_read_model",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--topic",
        default=topics.PROVIDER_AVAILABILITY,
        help="the compacted topic to replay (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="give up (and roll back) after this many seconds",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, service="care-plan-rebuild")
    asyncio.run(rebuild(settings, topic=args.topic, timeout=args.timeout))


if __name__ == "__main__":
    main()
