"""The service's settings, read from the environment (the names compose, Kubernetes and
`careplan up` set: ``ENVIRONMENT``, ``API_KEY``, ``HTTP_PORT``, ``DATABASE_URL``, ...).

It fails closed: ``ENVIRONMENT`` has no default (`careplan up` sets ``local``, the manifests set
theirs), the published key ``LOCAL_DEV`` is refused outside ``local``, ``dev`` and ``test``, and
so is a configuration without ``AUTH_ISSUER`` there.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract import topics
from eventing.retention import DEFAULT_INBOX_RETENTION
from eventing.settings import (
    LOCAL_API_KEY,
    AuthSettings,
    DatabaseSettings,
    Environment,
    KafkaSettings,
    check_deployment,
    require_environment,
)
from provider_schedule.messaging.topics import ScheduleTopics

DEFAULT_API_KEY = LOCAL_API_KEY  # refused outside local, dev and test


class ProviderScheduleSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    environment: Environment  # required: see require_environment
    api_key: SecretStr = SecretStr(DEFAULT_API_KEY)
    http_host: str = "0.0.0.0"  # noqa: S104 - a container's port is its only way in
    http_port: int = Field(default=8090, ge=1, le=65535)
    log_level: str = "INFO"

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    consumer_group: str = "provider-schedule"
    availability_topic: str = topics.PROVIDER_AVAILABILITY
    booking_requests_topic: str = topics.BOOKING_REQUESTS
    booking_replies_topic: str = topics.BOOKING_REPLIES
    # How long one poll of the booking requests waits for a batch to fill; it bounds the
    # latency a request can pick up in the consumer.
    consumer_poll_seconds: float = Field(default=0.1, gt=0)
    # Writes that publish are refused with 429 while the oldest unpublished event is older.
    admission_budget_seconds: float = Field(default=5.0, gt=0)
    # How long processed event ids and handled cancellations are kept: longer than any
    # redelivery (a rewound consumer group, a DLT replay) can come late. ISO 8601 or seconds.
    inbox_retention: timedelta = Field(default=DEFAULT_INBOX_RETENTION, gt=timedelta(0))
    cancelled_bookings_retention: timedelta = Field(
        default=DEFAULT_INBOX_RETENTION, gt=timedelta(0)
    )
    retention_interval_seconds: float = Field(default=600.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _environment_is_set(cls, values: Any) -> Any:
        return require_environment(values)

    @model_validator(mode="after")
    def _refuse_default_key_outside_development(self) -> ProviderScheduleSettings:
        check_deployment(self.environment, self.api_key, self.auth)
        return self

    @property
    def topics(self) -> ScheduleTopics:
        return ScheduleTopics(
            availability=self.availability_topic,
            booking_requests=self.booking_requests_topic,
            booking_replies=self.booking_replies_topic,
        )
