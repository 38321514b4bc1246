"""Builds the sink from its settings: the one place where clients are created."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import boto3
from fastapi import FastAPI

from eventbridge_sink.forwarder import Forwarder, ForwarderOptions
from eventbridge_sink.settings import SinkSettings
from eventbridge_sink.sink import KafkaToEventBridge
from eventing.dead_letter import DeadLetterPublisher
from eventing.health import health_router, kafka_check
from eventing.membership import fast_resume_config
from eventing.producer import AsyncProducer
from eventing.settings import KafkaSettings
from eventing.supervision import WorkerGroup
from telemetry import Tracing


def build_app(
    settings: SinkSettings, kafka: KafkaSettings, *, tracing: Tracing | None = None
) -> FastAPI:
    events = boto3.client(
        "events", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )

    async def put_events(entries: list[Any]) -> dict[str, Any]:
        return dict(await asyncio.to_thread(events.put_events, Entries=entries))

    async def bus_check() -> None:
        await asyncio.to_thread(events.describe_event_bus, Name=settings.event_bus_name)

    producer = AsyncProducer(kafka.client_config())
    sink = KafkaToEventBridge(
        consumer_config={
            **kafka.client_config(),
            "group.id": settings.consumer_group,
            # A restarted replica resumes as the same static member, within seconds.
            **fast_resume_config(settings.consumer_group),
        },
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
            tracing=tracing,
        ),
        dead_letters=DeadLetterPublisher(producer, settings.consumer_group),
    )
    workers = WorkerGroup({"kafka-to-eventbridge": sink.run})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        workers.start()
        try:
            yield
        finally:
            await workers.stop()
            await asyncio.to_thread(producer.close)

    app = FastAPI(title="EventBridge sink", lifespan=lifespan)
    app.include_router(
        health_router(
            {
                "kafka": kafka_check(kafka.client_config()),
                "eventbridge": bus_check,
                "forwarding": workers.readiness_check,
            }
        )
    )
    return app
