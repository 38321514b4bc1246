"""Fixtures of the Provider Schedule integration tests.

- ``schedule_app``: the service's app built by ``bootstrap`` with the real engine and broker of
  the test session, its lifespan running (outbox relay and booking responder). Its booking
  responder reads a topic of its own, so that it never competes with the service process.
- ``client``: an HTTP client for that app, with the key.
- ``service``: the real ``python -m provider_schedule`` process, started by the launcher
  (migrations first) on the session's ports, reading the contract's topics.

The database is shared by every test: tests use fresh ids and never count rows globally.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from devstack.platform import Platform
from devstack.postgres import admin_dsn
from devstack.settings import DevstackSettings
from eventing.settings import DatabaseSettings, KafkaSettings
from provider_schedule import migrate
from provider_schedule.bootstrap import Container, bootstrap
from provider_schedule.main import create_app
from provider_schedule.settings import Environment, ProviderScheduleSettings
from tests.support.cognito import LocalIdentities
from tests.support.kafka import unique_topic

API_KEY = f"test-key-{uuid.uuid4().hex}"


@dataclass
class ScheduleApp:
    app: FastAPI
    container: Container
    settings: ProviderScheduleSettings


@pytest.fixture(scope="session")
async def schedule_database(
    infrastructure: DevstackSettings, launcher: Platform
) -> AsyncIterator[DevstackSettings]:
    """The session's settings with a database of the in-process service's own. Sharing the
    real process's database, its relay and the in-process one took turns leading the one
    outbox: while the leader was the in-process relay and a synchronous test held the event
    loop, nothing was published and the real service shed writes (seen in a random order).
    ``launcher`` only orders the teardown: PostgreSQL stops after the database is dropped."""
    name = f"provider_schedule_it_{uuid.uuid4().hex[:8]}"
    await _admin(infrastructure, f'create database "{name}"')
    url = infrastructure.sqlalchemy_url.rpartition("/")[0] + f"/{name}"
    # Alembic runs its own event loop: a thread of its own keeps it off the test loop.
    await asyncio.to_thread(migrate.upgrade, url)
    yield infrastructure.model_copy(update={"database_url": url})
    await _admin(infrastructure, f'drop database if exists "{name}" with (force)')


async def _admin(infrastructure: DevstackSettings, statement: str) -> None:
    connection = await asyncpg.connect(admin_dsn(infrastructure))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def schedule_settings(
    infrastructure: DevstackSettings, **overrides: object
) -> ProviderScheduleSettings:
    values: dict[str, object] = {
        # The in-process relay runs only while the test loop does: a synchronous test that takes
        # a few seconds ages the outbox past any small budget, and the next test got a 429 (seen
        # in a random order). Shedding is tested where a budget is set on purpose.
        "admission_budget_seconds": 3600.0,
        **overrides,
    }
    return ProviderScheduleSettings(
        environment=Environment.TEST,
        api_key=SecretStr(API_KEY),
        kafka=KafkaSettings(bootstrap_servers=infrastructure.bootstrap_servers),
        database=DatabaseSettings(database_url=infrastructure.sqlalchemy_url),
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
async def schedule_app(
    schedule_database: DevstackSettings, identities: LocalIdentities
) -> AsyncIterator[ScheduleApp]:
    requests_topic = unique_topic(schedule_database, "ps-requests")
    settings = schedule_settings(
        schedule_database,
        auth=identities.auth,  # moto Cognito's tokens, and the API key (ENVIRONMENT=test)
        booking_requests_topic=requests_topic,
        consumer_group=f"provider-schedule-test-{uuid.uuid4().hex[:8]}",
    )
    container = bootstrap(settings)
    app = create_app(container)
    async with app.router.lifespan_context(app):
        yield ScheduleApp(app=app, container=container, settings=settings)


@pytest.fixture
async def client(schedule_app: ScheduleApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=schedule_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://provider-schedule",
                                 headers={"X-API-KEY": API_KEY}) as client:  # fmt: skip
        yield client


@pytest.fixture
async def anonymous(schedule_app: ScheduleApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=schedule_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://provider-schedule") as c:
        yield c


@dataclass
class RunningService:
    """The service process started by the launcher, as `careplan up` starts it."""

    url: str
    api_key: str
    settings: DevstackSettings


@pytest.fixture(scope="session")
def service(launcher: Platform, infrastructure: DevstackSettings) -> RunningService:
    launcher.up(["provider-schedule"])
    return RunningService(url=f"http://127.0.0.1:{infrastructure.provider_schedule_port}",
                          api_key=infrastructure.api_key, settings=infrastructure)  # fmt: skip


# --- small helpers shared by the test modules ---------------------------------------------------

PROVIDER = {"firstName": "John", "lastName": "Doe", "speciality": "Dentist", "gender": "MALE"}


def provider_body(**changes: str) -> dict[str, str]:
    return {**PROVIDER, **changes}


def slot_body(day: int, hour: int, minutes: int = 30, encounter: str = "ONSITE",
              year: int = 2031) -> dict[str, str]:  # fmt: skip
    """A slot on day ``day`` of a far year (unique per test by provider, not by time)."""
    start_minute = hour * 60
    end_minute = start_minute + minutes
    return {
        "fromDate": f"{year}-01-{day:02d}T{start_minute // 60:02d}:{start_minute % 60:02d}:00+00:00",
        "toDate": f"{year}-01-{day:02d}T{end_minute // 60:02d}:{end_minute % 60:02d}:00+00:00",
        "encounterType": encounter,
    }
