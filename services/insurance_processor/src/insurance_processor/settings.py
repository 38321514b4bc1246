"""Settings of the Insurance Processor, read from the environment.

The names are the ones `careplan up`, compose and Kubernetes set: ``KAFKA_BOOTSTRAP_SERVERS``
(and the other ``KAFKA_*`` connection settings), ``HTTP_PORT``, ``LOG_LEVEL``, ``STATE_DIR``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract import topics
from eventing.settings import KafkaSettings


class ProcessorSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    consumer_group: str = "insurance-processor"
    input_topic: str = topics.CAREPLAN_BOOKINGS
    output_topic: str = topics.CAREPLAN_BOOKINGS_INSURED
    # RocksDB folders of the dedup state; the changelog topics are the durable copy, so a
    # lost folder is rebuilt from Kafka. Relative to the working directory: `careplan up`
    # runs from the repository root and sets its own; the image points it at /tmp.
    state_dir: Path = Path(".careplan/local/insurance-processor-state")
    # How long an emitted booking event is remembered to drop a re-delivered copy; as long
    # as the broker keeps the input topic (log.retention.hours=168), since a copy older
    # than that cannot be replayed from it.
    dedup_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # With exactly-once, output becomes visible to read_committed consumers when the
    # transaction commits: this bounds the added latency.
    commit_interval_seconds: float = Field(default=1.0, gt=0)
    http_host: str = "0.0.0.0"  # noqa: S104 - a container's port is its only way in
    http_port: int = Field(default=8081, ge=0, le=65535)
    log_level: str = "INFO"

    @property
    def dedup_ttl(self) -> timedelta:
        return timedelta(seconds=self.dedup_ttl_seconds)

    @property
    def dead_letter_topic(self) -> str:
        return topics.dead_letter_topic(self.input_topic)
