"""Builds the sink from its settings: the one place where clients are created.

The sink is a consumer, not a web application: its probes are served by ``eventing.probes``
(a stdlib HTTP server thread), so its image holds no web framework.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from eventbridge_sink.call_health import CallHealth
from eventbridge_sink.forwarder import Forwarder, ForwarderOptions
from eventbridge_sink.settings import SinkSettings
from eventbridge_sink.sink import KafkaToEventBridge
from eventing.probes import HealthServer, ReadinessCheck, kafka_check
from eventing.producer import AsyncProducer
from eventing.settings import KafkaSettings
from eventing.supervision import WorkerGroup
from telemetry import Tracing


@dataclass(frozen=True, slots=True)
class Sink:
    workers: WorkerGroup
    producer: AsyncProducer
    checks: Mapping[str, ReadinessCheck]


def build_sink(
    settings: SinkSettings, kafka: KafkaSettings, *, tracing: Tracing | None = None
) -> Sink:
    events = boto3.client(
        "events", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )

    async def put_events(entries: list[Any]) -> dict[str, Any]:
        return dict(await asyncio.to_thread(events.put_events, Entries=entries))

    def bus_check() -> None:
        events.describe_event_bus(Name=settings.event_bus_name)

    call_health = CallHealth(unready_after_seconds=settings.put_events_unready_after_seconds)
    producer = AsyncProducer(kafka.client_config())
    sink = KafkaToEventBridge(
        client_config=kafka.client_config(),
        group_id=settings.consumer_group,
        topics=settings.topics,
        forwarder=Forwarder(
            put_events,
            ForwarderOptions(
                connector_id=settings.connector_id,
                event_bus_name=settings.event_bus_name,
                entry_attempts=settings.entry_attempts,
                initial_backoff_seconds=settings.initial_backoff_seconds,
                max_backoff_seconds=settings.max_backoff_seconds,
                parallel_requests=settings.parallel_requests,
            ),
            call_health,
            tracing=tracing,
        ),
        producer=producer,
    )
    workers = WorkerGroup({"kafka-to-eventbridge": sink.run})

    def forwarding_check() -> None:
        # Read from the probe thread: a stale answer costs one probe period, nothing more.
        if not workers.alive:
            raise RuntimeError("the forwarding loop is not running")

    checks = {
        "kafka": kafka_check(kafka.client_config()),
        "eventbridge": bus_check,
        "forwarding": forwarding_check,
        "put-events": call_health.readiness_check,
    }
    return Sink(workers=workers, producer=producer, checks=checks)


async def serve(
    settings: SinkSettings, kafka: KafkaSettings, *, tracing: Tracing | None = None
) -> None:
    """Forward until SIGTERM or SIGINT, then let the batch in hand settle and stop."""
    sink = build_sink(settings, kafka, tracing=tracing)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    probes = HealthServer(settings.http_host, settings.http_port, checks=sink.checks)
    probes.start()
    sink.workers.start()
    try:
        await stop.wait()
    finally:
        await sink.workers.stop()
        await asyncio.to_thread(sink.producer.close)
        probes.stop()
