"""Dead-letter redrive: read the records parked in a ``<topic>.dlt``, replay them onto their
original topic, purge them, and measure how many wait.

A replay and its ledger entry are written in one Kafka transaction: the records go back to
their original topic and partition (the partition, not only the key: the producer that wrote
them may have partitioned differently from librdkafka, and per-key order lives in the
partition) with their original key, value and headers plus ``dlt-replayed-from``; the ledger
(the compacted ``careplan.dlt.replays``, keyed by ``<dlt>:<partition>:<offset>``) records each
one. Every replay uses the same ``transactional.id``, so two operators replaying at once fence
each other instead of both publishing: a record is replayed once however often it is asked for.
The consumers' inboxes still deduplicate by ``ce_id`` whatever happens.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as Partition
from confluent_kafka.admin import AdminClient, NewTopic

from contract.topics import DEAD_LETTER_SUFFIX
from eventing.parked import ParkedRecord, ReplayPlan, Selection, plan_replay, purge_offsets

LEDGER_TOPIC = "careplan.dlt.replays"
TRANSACTIONAL_ID = "careplan-dlt-replay"


class UnknownTopicError(LookupError):
    """The dead-letter topic does not exist on the broker."""


class Redrive:
    def __init__(self, client_config: Mapping[str, Any], *, timeout: float = 10.0) -> None:
        self._config = {**client_config, "log_level": 0}
        self._timeout = timeout
        self._admin = AdminClient(self._config)

    def dead_letter_topics(self) -> list[str]:
        topics = self._admin.list_topics(timeout=self._timeout).topics
        return sorted(name for name in topics if name.endswith(DEAD_LETTER_SUFFIX))

    def depth(self, topic: str) -> int:
        """Records parked in ``topic`` (the sum over its partitions of end minus start)."""
        return sum(high - low for low, high in self._watermarks(topic).values())

    def parked(self, topic: str) -> list[ParkedRecord]:
        """Every record in ``topic`` from each partition's start to its current end."""
        messages = self._read(topic, self._watermarks(topic), committed=False)
        return [_parked(message) for message in messages]

    def replayed(self) -> set[str]:
        """The refs of every record replayed so far (read committed: an aborted replay is
        not in it)."""
        if LEDGER_TOPIC not in self._admin.list_topics(timeout=self._timeout).topics:
            return set()
        entries = self._read(LEDGER_TOPIC, self._watermarks(LEDGER_TOPIC), committed=True)
        return {message.key().decode() for message in entries if message.key()}

    def plan(self, topic: str, selection: Selection) -> ReplayPlan:
        return plan_replay(self.parked(topic), selection, self.replayed())

    def replay(self, topic: str, selection: Selection) -> ReplayPlan:
        """Replay the selected records not replayed before; returns what was (and was not)."""
        self._ensure_ledger()
        producer = Producer(
            {
                **self._config,
                "transactional.id": TRANSACTIONAL_ID,
                "enable.idempotence": True,
                "acks": "all",
            }
        )
        # Fences any earlier replay still running with this id before the ledger is read.
        producer.init_transactions(self._timeout)
        plan = self.plan(topic, selection)
        if not plan.to_replay:
            return plan
        now = datetime.now(UTC)
        producer.begin_transaction()
        try:
            for record in plan.to_replay:
                assert record.original_partition is not None  # plan_replay checked it
                producer.produce(
                    record.original_topic,
                    value=record.value,
                    key=record.key,
                    partition=record.original_partition,
                    headers=record.replay_headers(now),
                )
                producer.produce(
                    LEDGER_TOPIC,
                    key=record.ref.encode(),
                    value=json.dumps(
                        {"replayedAt": now.isoformat(), "to": record.original_topic}
                    ).encode(),
                )
            producer.commit_transaction(self._timeout)
        except KafkaException:
            producer.abort_transaction(self._timeout)
            raise
        return plan

    def purge(self, topic: str, *, only_replayed: bool) -> int:
        """Delete the parked records of ``topic`` (with ``only_replayed``, the leading run of
        each partition that was replayed); returns how many were deleted."""
        marks = self._watermarks(topic)
        ends = {partition: high for partition, (_, high) in marks.items()}
        replayed = self.replayed() if only_replayed else None
        records = self.parked(topic) if only_replayed else []
        limits = purge_offsets(records, ends, replayed=replayed)
        doomed = {p: limits[p] - low for p, (low, _) in marks.items() if limits[p] > low}
        if not doomed:
            return 0
        futures = self._admin.delete_records(
            [Partition(topic, partition, limits[partition]) for partition in doomed],
            request_timeout=self._timeout,
        )
        for future in futures.values():
            future.result()
        return sum(doomed.values())

    def _watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        consumer = self._consumer()
        try:
            metadata = consumer.list_topics(topic, timeout=self._timeout).topics.get(topic)
            if metadata is None or metadata.error is not None:
                raise UnknownTopicError(topic)
            return {
                partition: consumer.get_watermark_offsets(
                    Partition(topic, partition), timeout=self._timeout
                )
                for partition in metadata.partitions
            }
        finally:
            consumer.close()

    def _read(
        self, topic: str, marks: Mapping[int, tuple[int, int]], *, committed: bool
    ) -> list[Any]:
        """The messages between each partition's low and high watermark, partition by
        partition in offset order. ``committed`` reads as a transactional consumer must
        (the high watermark then may hold transaction markers that are never returned)."""
        pending = {p: high for p, (low, high) in marks.items() if high > low}
        if not pending:
            return []
        consumer = self._consumer(committed=committed)
        messages: list[Any] = []
        try:
            consumer.assign([Partition(topic, p, marks[p][0]) for p in pending])
            while pending:
                message = consumer.poll(self._timeout)
                if message is None:
                    break  # only transaction markers left before the high watermark
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        pending.pop(message.partition(), None)
                        continue
                    raise KafkaException(message.error())
                messages.append(message)
                if message.offset() + 1 >= pending.get(message.partition(), 0):
                    pending.pop(message.partition(), None)
        finally:
            consumer.close()
        return sorted(messages, key=lambda m: (m.partition(), m.offset()))

    def _consumer(self, *, committed: bool = False) -> Consumer:
        return Consumer(
            {
                **self._config,
                # Assigned partitions only, never subscribed or committed: no group state.
                "group.id": f"careplan-dlt-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed" if committed else "read_uncommitted",
            }
        )

    def _ensure_ledger(self) -> None:
        if LEDGER_TOPIC in self._admin.list_topics(timeout=self._timeout).topics:
            return
        topic = NewTopic(
            LEDGER_TOPIC,
            num_partitions=1,
            replication_factor=-1,  # the broker's default
            config={"cleanup.policy": "compact"},
        )
        for future in self._admin.create_topics([topic], operation_timeout=30).values():
            try:
                future.result()
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise


def _parked(message: Any) -> ParkedRecord:
    headers: Sequence[tuple[str, bytes | None]] = message.headers() or []
    return ParkedRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp_ms=message.timestamp()[1],
        key=message.key(),
        value=message.value(),
        headers=tuple((name, value or b"") for name, value in headers),
    )
