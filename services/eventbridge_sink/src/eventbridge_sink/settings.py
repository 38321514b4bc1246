"""Settings of the EventBridge sink, from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.topics import CAREPLAN_BOOKINGS, CAREPLAN_BOOKINGS_INSURED


class SinkSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    event_bus_name: str = "care-plan-events"
    connector_id: str = "care-plan-sink"
    topics: list[str] = Field(default=[CAREPLAN_BOOKINGS, CAREPLAN_BOOKINGS_INSURED])
    consumer_group: str = "eventbridge-sink"
    http_host: str = "0.0.0.0"  # noqa: S104 - a container's port is its only way in
    http_port: int = 8082
    log_level: str = "INFO"
    # Attempts for entries that EventBridge rejects one by one; then they go to the DLT.
    entry_attempts: int = 4
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    # PutEvents requests in flight at once (eventbridge_sink.forwarder.ForwarderOptions).
    parallel_requests: int = Field(default=4, ge=1, le=32)
    # The sink reports not ready once PutEvents calls have failed (AccessDenied, the endpoint
    # away) for longer than this; it keeps retrying meanwhile.
    put_events_unready_after_seconds: float = Field(default=60.0, gt=0)
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
