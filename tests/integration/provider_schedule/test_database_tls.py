"""The EKS form of ``DATABASE_URL`` (``?ssl=verify-full``, the CA bundle in ``PGSSLROOTCERT``)
over TLS: migrations, the service's pool and the outbox relay connect, verify the server's
certificate and host name, and an availability is published.

TLS is terminated by ``tests.support.postgres_tls`` in front of the session's PostgreSQL (the
embedded server is built without OpenSSL); it refuses clients that do not ask for TLS, as RDS
with ``rds.force_ssl`` does. The certificate is made at setup with ``cryptography``."""

from __future__ import annotations

import asyncio
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from devstack.postgres import admin_dsn
from devstack.settings import DevstackSettings
from eventing.settings import DatabaseSettings
from provider_schedule import migrate
from provider_schedule.bootstrap import bootstrap
from provider_schedule.main import create_app
from tests.integration.provider_schedule.conftest import (
    API_KEY,
    provider_body,
    schedule_settings,
    slot_body,
)
from tests.support.kafka import read_all, unique_topic
from tests.support.postgres_tls import PostgresTlsFront
from tests.support.tls import ServerCertificate, make_server_certificate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    return make_server_certificate(tmp_path_factory.mktemp("postgres-tls"))


@pytest.fixture(scope="module")
def database(infrastructure: DevstackSettings) -> Iterator[str]:
    name = f"careplan_tls_{uuid.uuid4().hex[:8]}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin_dsn(infrastructure))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f"create database {name}"))
    yield name
    asyncio.run(run(f"drop database {name} with (force)"))


@pytest.fixture
async def front(
    infrastructure: DevstackSettings, certificate: ServerCertificate
) -> AsyncIterator[PostgresTlsFront]:
    front = await PostgresTlsFront(
        "127.0.0.1", infrastructure.postgres_port, certificate.certificate, certificate.key
    ).start()
    yield front
    await front.close()


def eks_url(front: PostgresTlsFront, database: str) -> str:
    # What the EKS overlay's ExternalSecret renders (deploy/k8s/components/eks), host by name.
    return f"postgresql+asyncpg://postgres@localhost:{front.port}/{database}?ssl=verify-full"


@pytest.fixture
def trusted_ca(certificate: ServerCertificate) -> Iterator[None]:
    """The CA bundle where the EKS pods find the RDS one (PGSSLROOTCERT, read by asyncpg)."""
    before = os.environ.get("PGSSLROOTCERT")
    os.environ["PGSSLROOTCERT"] = str(certificate.ca)
    yield
    if before is None:
        del os.environ["PGSSLROOTCERT"]
    else:
        os.environ["PGSSLROOTCERT"] = before


@pytest.fixture
async def client_over_tls(
    front: PostgresTlsFront, database: str, trusted_ca: None, infrastructure: DevstackSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    # Migrations run in a thread with a loop of their own: the front serves them from this one.
    await asyncio.to_thread(migrate.upgrade, eks_url(front, database))
    availability_topic = unique_topic(infrastructure, "ps-tls-availability")
    settings = schedule_settings(
        infrastructure,
        availability_topic=availability_topic,
        booking_requests_topic=unique_topic(infrastructure, "ps-tls-requests"),
        consumer_group=f"provider-schedule-tls-{uuid.uuid4().hex[:8]}",
    ).model_copy(update={"database": DatabaseSettings(database_url=eks_url(front, database))})
    app = create_app(bootstrap(settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://provider-schedule", headers={"X-API-KEY": API_KEY}
        ) as client:
            yield client, availability_topic


async def test_the_service_and_its_relay_connect_over_verified_tls_and_publish(
    client_over_tls: tuple[httpx.AsyncClient, str],
    front: PostgresTlsFront,
    infrastructure: DevstackSettings,
) -> None:
    client, availability_topic = client_over_tls
    provider = await client.post("/providers", json=provider_body())
    assert provider.status_code == 201, provider.text
    slot = await client.post(
        f"/providers/{provider.json()['id']}/availability", json=slot_body(day=3, hour=9)
    )
    assert slot.status_code == 201, slot.text

    published = await asyncio.to_thread(read_all, infrastructure, availability_topic, expect=1)
    assert [m.key().decode() for m in published] == [slot.json()["id"]]

    # Nothing reached the database but through TLS: the pool's connections and the relay's.
    assert front.refused_plaintext == 0
    assert front.tls_sessions >= 2


async def test_a_server_the_bundle_does_not_vouch_for_is_refused(
    front: PostgresTlsFront, database: str, tmp_path: Path
) -> None:
    stranger = make_server_certificate(tmp_path / "stranger")
    before = os.environ.get("PGSSLROOTCERT")
    os.environ["PGSSLROOTCERT"] = str(stranger.ca)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncpg.connect(
                DatabaseSettings(database_url=eks_url(front, database)).asyncpg_dsn
            )
    finally:
        if before is None:
            del os.environ["PGSSLROOTCERT"]
        else:
            os.environ["PGSSLROOTCERT"] = before


async def test_a_client_that_does_not_ask_for_tls_is_refused(
    front: PostgresTlsFront, database: str
) -> None:
    with pytest.raises((ConnectionError, asyncpg.ConnectionDoesNotExistError, OSError)):
        await asyncpg.connect(
            host="127.0.0.1", port=front.port, user="postgres", database=database, ssl=False
        )
    assert front.refused_plaintext == 1
