"""The Care Plan service in-process (its real lifespan: relay, consumers, sweeper) against the
session's real Kafka and a PostgreSQL database of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from care_plan import bootstrap
from care_plan.bootstrap import Container
from care_plan.main import create_app
from care_plan.settings import Settings
from contract import topics
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from eventing.settings import DatabaseSettings, KafkaSettings
from tests.integration.care_plan.support import (
    FakeProvider,
    KafkaTap,
    create_database,
    drop_database,
)
from tests.support.cognito import LocalIdentities
from tests.support.kafka import unique_topic

API_KEY = "integration-test-key"
HEADERS = {"X-API-KEY": API_KEY}
BOOKING_TIMEOUT_SECONDS = 2.0


@dataclass
class Service:
    client: httpx.AsyncClient
    anonymous: httpx.AsyncClient  # sends no API key
    container: Container
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]


def service_settings(
    infrastructure: DevstackSettings, database_url: str, topics: PrivateTopics, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "api_key": SecretStr(API_KEY),
        "booking_timeout_seconds": BOOKING_TIMEOUT_SECONDS,
        "sweep_interval_seconds": 0.1,
        "consumer_group": f"care-plan-it-{uuid.uuid4().hex[:8]}",
        "kafka": KafkaSettings(bootstrap_servers=infrastructure.bootstrap_servers),
        "database": DatabaseSettings(database_url=database_url),
        "availability_topic": topics.availability,
        "booking_replies_topic": topics.replies,
        # Tests leave bookings waiting on purpose: shedding is tested apart (test_admission.py).
        "admission_budget_seconds": 3600.0,
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def care_plan_database(
    infrastructure: DevstackSettings, launcher: Platform
) -> AsyncIterator[str]:
    # ``launcher`` is asked for only so that it is set up first and torn down last: its teardown
    # stops PostgreSQL and Kafka, which this fixture and the in-process service still need then.
    url = await create_database(infrastructure, "care_plan_it")
    yield url
    await drop_database(infrastructure, url)


@dataclass(frozen=True)
class PrivateTopics:
    """The in-process service consumes topics of its own: the malformed records these tests
    publish never reach the contract's topics (that the contract audit checks)."""

    availability: str
    replies: str


@pytest.fixture(scope="session")
def private_topics(infrastructure: DevstackSettings) -> PrivateTopics:
    return PrivateTopics(
        availability=unique_topic(infrastructure, "care-plan.availability", partitions=6),
        replies=unique_topic(infrastructure, "care-plan.replies", partitions=6),
    )


@pytest.fixture(scope="session")
async def service(
    infrastructure: DevstackSettings,
    care_plan_database: str,
    private_topics: PrivateTopics,
    identities: LocalIdentities,
) -> AsyncIterator[Service]:
    # Tokens of the session's moto Cognito are accepted, and the API key (ENVIRONMENT=test).
    settings = service_settings(
        infrastructure, care_plan_database, private_topics, auth=identities.auth
    )
    container = bootstrap.build(settings)
    app = create_app(container)
    engine = create_async_engine(care_plan_database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(
                transport=transport, base_url="http://care-plan", headers=HEADERS
            ) as client,
            httpx.AsyncClient(transport=transport, base_url="http://care-plan") as anonymous,
        ):
            yield Service(client, anonymous, container, settings, async_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture(scope="session")
def provider(infrastructure: DevstackSettings, private_topics: PrivateTopics) -> FakeProvider:
    return FakeProvider(
        infrastructure.bootstrap_servers,
        availability_topic=private_topics.availability,
        replies_topic=private_topics.replies,
    )


@pytest.fixture(scope="session")
def tap(infrastructure: DevstackSettings, private_topics: PrivateTopics) -> Iterator[KafkaTap]:
    names = [
        topics.BOOKING_REQUESTS,
        topics.CAREPLAN_BOOKINGS,
        private_topics.availability,
        f"{private_topics.availability}.dlt",
    ]
    tap = KafkaTap(infrastructure.bootstrap_servers, names).start()
    yield tap
    tap.close()
