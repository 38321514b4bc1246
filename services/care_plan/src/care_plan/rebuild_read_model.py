"""``python -m care_plan.rebuild_read_model``: clear the availability read model and replay
``provider.availability`` from its beginning (the topic is compacted, so the newest event of
every availability is still there).

The topic is read first, up to its end as of the start, keeping the newest state of each
availability by the projector's own rule (``domain.rules.supersedes``). Then one transaction
empties ``care_plan.slots``, bulk-inserts those states, marks the slots our live bookings hold,
and cancels the live bookings of slots the provider deleted meanwhile. Until it commits,
searches see the old read model. Events arriving meanwhile are projected by the running service
as well; the version rule makes the order irrelevant. Exposed as ``careplan care-plan rebuild``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from uuid import UUID

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker

from care_plan import bootstrap
from care_plan.domain.rules import supersedes
from care_plan.messaging.projector import cancel_bookings_of_deleted_slot, read_event
from care_plan.persistence.read_model import ReadModel, SlotState
from care_plan.settings import Settings
from contract.topics import PROVIDER_AVAILABILITY
from eventing.cloudevents import MalformedEventError, from_record
from eventing.logging import configure_logging

logger = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    records: int = 0
    slots: int = 0
    deleted: int = 0
    stale: int = 0
    ignored: int = 0
    unreadable: int = 0
    cleared: int = 0
    seconds: float = 0.0
    newest: dict[UUID, SlotState] = field(default_factory=dict, repr=False)

    def take(self, state: SlotState) -> None:
        current = self.newest.get(state.id)
        if current is None or supersedes(
            state.stamp,
            current.stamp,
            incoming_deletes=state.deleted_at is not None,
            current_deleted=current.deleted_at is not None,
        ):
            self.newest[state.id] = state
        else:
            self.stale += 1


async def rebuild(
    settings: Settings, *, topic: str | None = None, timeout: float = 600.0
) -> RebuildReport:
    """Replay ``topic`` (the settings' availability topic) up to its end as of now into an
    emptied read model."""
    topic = topic or settings.availability_topic
    began = time.monotonic()
    report = RebuildReport()
    await asyncio.to_thread(_read_topic, settings, topic, report, began + timeout)
    states = list(report.newest.values())
    report.slots = len(states)
    engine = bootstrap.create_engine(settings)
    saga = bootstrap.build_saga(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
            read_model = ReadModel(session)
            report.cleared = await read_model.clear()
            await read_model.insert_all(states)
            deleted = {state.id for state in states if state.deleted_at is not None}
            report.deleted = len(deleted)
            # Slots deleted while a booking held them, if the live projector has not seen it.
            for availability_id in deleted & await read_model.held_by_live_bookings():
                await cancel_bookings_of_deleted_slot(saga, session, availability_id, None)
    finally:
        await engine.dispose()
    report.seconds = round(time.monotonic() - began, 2)
    logger.info(
        "read model rebuilt",
        extra={
            "topic": topic,
            "records": report.records,
            "slots": report.slots,
            "deleted": report.deleted,
            "stale": report.stale,
            "ignored": report.ignored,
            "unreadable": report.unreadable,
            "cleared": report.cleared,
            "seconds": report.seconds,
        },
    )
    return report


def _read_topic(settings: Settings, topic: str, report: RebuildReport, deadline: float) -> None:
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            # Assigned partitions, never committed: the service's own group is left alone.
            "group.id": f"{settings.consumer_group}.rebuild-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {topic}: {metadata.error}")
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        pending = {p: end for p, end in ends.items() if end > 0}
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end in time")
            for message in consumer.consume(1000, 0.5):
                if not message.error():
                    report.records += 1
                    _read(message, report)
            # Offsets of a compacted topic have gaps: the position says how far a partition is.
            for position in consumer.position([TopicPartition(topic, p) for p in pending]):
                if position.offset >= pending[position.partition]:
                    del pending[position.partition]
    finally:
        consumer.close()


def _read(message: Message, report: RebuildReport) -> None:
    try:
        state = read_event(from_record(message.key(), message.value(), message.headers()))
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
    if state is None:
        report.ignored += 1
    else:
        report.take(state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m care_plan.rebuild_read_model",
        description="Clear the availability read model and replay provider.availability.",
    )
    parser.add_argument(
        "--topic",
        help="the compacted topic to replay "
        f"(default: $AVAILABILITY_TOPIC, else {PROVIDER_AVAILABILITY})",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up, changing nothing, after this long"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, service="care-plan-rebuild")
    asyncio.run(rebuild(settings, topic=args.topic, timeout=args.timeout))


if __name__ == "__main__":
    main()
