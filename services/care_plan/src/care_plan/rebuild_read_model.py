"""``python -m care_plan.rebuild_read_model``: bring the availability read model back in line
with ``provider.availability``, replayed from its beginning (the topic is compacted, so the
newest event of every availability is still there).

Two phases. ``read_topic`` reads the topic up to its end as of the start, keeping the newest
state of each availability by the projector's own rule (``domain.rules.supersedes``).
``write_read_model`` then, in one transaction that keeps the projector and the saga out of
``care_plan.slots`` until it commits, writes each state only where it supersedes the row's (the
same rule, in SQL), deletes the rows of availabilities the topic does not know (unless written
since the read began), keeps the provider's holder (``provider_booking_id``) only where it is not
one of our own bookings (the projector's rule), sets ``held_by`` from our live bookings and
cancels the live bookings of slots the provider deleted. Until it commits, searches see the old
read model.

The running service keeps projecting meanwhile, and what it applied is marked in its inbox, never
applied again: so the rebuild must not undo it. A state the projector wrote after the topic was
read is newer than (or equal to) what the rebuild holds and is kept, a deletion stays terminal,
and a slot created after the read is not taken for one the topic forgot. Exposed as
``careplan care-plan rebuild``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from pydantic import ValidationError

from care_plan import bootstrap
from care_plan.domain import commands
from care_plan.domain.rules import supersedes
from care_plan.messaging.projector import read_event
from care_plan.persistence.read_model import ReadModel, SlotState
from care_plan.service_layer import handlers
from care_plan.settings import Settings
from contract.topics import PROVIDER_AVAILABILITY
from eventing.cloudevents import MalformedEventError, from_record
from eventing.database import Database
from eventing.logging import configure_logging
from eventing.redaction import describe_error

logger = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    topic: str = ""
    records: int = 0
    slots: int = 0
    deleted: int = 0
    stale: int = 0
    ignored: int = 0
    unreadable: int = 0
    written: int = 0  # rows inserted or overwritten: the topic's state was newer
    removed: int = 0  # rows of availabilities the topic does not know
    seconds: float = 0.0
    # The database's clock as the read began: rows written later were written meanwhile.
    read_from: datetime | None = field(default=None, repr=False)
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
    """Replay ``topic`` (the settings' availability topic) up to its end as of now into the
    read model."""
    began = time.monotonic()
    database = bootstrap.create_database(settings)
    await database.open()
    try:
        report = await read_topic(settings, database, topic=topic, timeout=timeout)
        await write_read_model(database, report)
    finally:
        await database.close()
    report.seconds = round(time.monotonic() - began, 2)
    logger.info(
        "read model rebuilt",
        extra={
            "topic": report.topic,
            "records": report.records,
            "slots": report.slots,
            "deleted": report.deleted,
            "stale": report.stale,
            "ignored": report.ignored,
            "unreadable": report.unreadable,
            "written": report.written,
            "removed": report.removed,
            "seconds": report.seconds,
        },
    )
    return report


async def read_topic(
    settings: Settings,
    database: Database,
    *,
    topic: str | None = None,
    timeout: float = 600.0,
) -> RebuildReport:
    """The newest state of every availability on ``topic``, up to its end as of now."""
    report = RebuildReport(topic=topic or settings.availability_topic)
    async with database.connection() as connection:
        # Taken before the end offsets: an event the projector applied before this time was
        # published before it, so it is on the part of the topic read here.
        report.read_from = await ReadModel(connection).now()
    await asyncio.to_thread(_read_topic, settings, report.topic, report, time.monotonic() + timeout)
    report.slots = len(report.newest)
    report.deleted = sum(1 for s in report.newest.values() if s.deleted_at is not None)
    return report


async def write_read_model(database: Database, report: RebuildReport) -> None:
    """Apply what ``read_topic`` found, in one transaction, without undoing newer states."""
    assert report.read_from is not None, "read_topic first"
    async with bootstrap.build_units(database).begin() as uow:
        read_model = uow.read_model
        await read_model.lock_for_rebuild()
        report.written = await read_model.upsert_newer(list(report.newest.values()))
        report.removed = await read_model.delete_unknown(
            report.newest, untouched_since=report.read_from
        )
        # The provider's holder is kept only when foreign, as the projector keeps it.
        await read_model.forget_own_holds()
        await read_model.hold_for_live_bookings()
        # Slots deleted while a booking held them, if the live projector has not seen it.
        for availability_id in await read_model.deleted_with_live_bookings():
            await handlers.cancel_bookings_of_slot(
                commands.CancelBookingsOfSlot(availability_id), uow
            )


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
                "error": describe_error(error),
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
        description="Rebuild the availability read model from provider.availability.",
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
