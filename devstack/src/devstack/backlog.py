"""How far behind each part of the platform is: consumer group lag and queue depth.

``careplan status`` prints both under the table of processes, and bench/serverless_tail.py
samples them during a load, so that a part falling behind shows at once, wherever it is:
a consumer group's lag is the records between its committed offset and the end of each
partition it has committed on; a queue's depth is its visible messages plus those in flight
(received, not yet deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    OffsetSpec,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    lag: int
    # Partitions whose committed offset is behind their end.
    behind: int


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    visible: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight


def lag(committed: dict[tuple[str, int], int], ends: dict[tuple[str, int], int]) -> tuple[int, int]:
    """(records behind, partitions behind) of one group. Pure. A partition the group never
    committed on is left out: its start is the topic's, which the admin API does not say."""
    gaps = [max(0, ends.get(key, offset) - offset) for key, offset in committed.items()]
    return sum(gaps), sum(1 for gap in gaps if gap)


def consumer_lags(
    bootstrap_servers: str, *, groups: Sequence[str] | None = None, timeout: float = 5.0
) -> list[GroupLag]:
    """The lag of every consumer group (or of ``groups``), by group name."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    if groups is None:
        listed = admin.list_consumer_groups(request_timeout=timeout).result()
        groups = sorted(group.group_id for group in listed.valid)
    committed_by_group: dict[str, dict[tuple[str, int], int]] = {}
    for group in groups:
        future = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
        )[group]
        partitions = future.result().topic_partitions or []
        committed_by_group[group] = {
            (p.topic, p.partition): p.offset for p in partitions if p.offset >= 0
        }
    wanted = {key for committed in committed_by_group.values() for key in committed}
    ends: dict[tuple[str, int], int] = {}
    if wanted:
        requests = {
            TopicPartition(topic, partition): OffsetSpec.latest() for topic, partition in wanted
        }
        for partition, future in admin.list_offsets(requests, request_timeout=timeout).items():
            ends[(partition.topic, partition.partition)] = future.result().offset
    return [GroupLag(group, *lag(committed_by_group[group], ends)) for group in groups]


def queue_depths(sqs: SQSClient) -> list[QueueDepth]:
    """Every queue's depth, by queue name."""
    depths: list[QueueDepth] = []
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths.append(
            QueueDepth(
                name=url.rsplit("/", 1)[-1],
                visible=int(attributes.get("ApproximateNumberOfMessages", "0")),
                in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")),
            )
        )
    return sorted(depths, key=lambda depth: depth.name)
