"""Statements go through asyncpg's maintained instrumentation only under a span that records
(``eventing.statement_spans``): checked on the session's PostgreSQL with the instrumentation
on and spans kept in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager

import asyncpg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.settings import DevstackSettings
from eventing.database import Database, PoolOptions
from eventing.statement_spans import QuietConnection
from telemetry import Tracing, configure_tracing
from telemetry.instrument import instrument_asyncpg
from telemetry.tracing import instrumented

pytestmark = pytest.mark.integration

UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    tracing = configure_tracing("svc", environ={}, exporter=exporter)  # every root sampled
    instrument_asyncpg(tracing)
    yield tracing
    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]


@pytest.fixture
async def database(infrastructure: DevstackSettings) -> AsyncIterator[Database]:
    database = Database(infrastructure.sqlalchemy_url, PoolOptions(min_size=1, max_size=1))
    await database.open()
    yield database
    await database.close()


def _statements(exporter: InMemorySpanExporter) -> list[str]:
    return [
        str((span.attributes or {}).get("db.statement"))
        for span in exporter.get_finished_spans()
        if span.name != "unit"
    ]


def _class_of(connection: object) -> type:
    return type(getattr(connection, "_con", connection))


async def test_quiet_connections_keep_asyncpg_s_own_methods(tracing: Tracing) -> None:
    assert hasattr(vars(asyncpg.Connection)["fetch"], "__wrapped__")  # instrumented
    assert not hasattr(vars(QuietConnection)["fetch"], "__wrapped__")


async def test_a_recorded_unit_s_statements_are_its_children_without_begin_and_commit(
    tracing: Tracing, database: Database, exporter: InMemorySpanExporter
) -> None:
    with tracing.span("unit"):
        async with database.transaction() as connection:
            assert _class_of(connection) is asyncpg.Connection
            await connection.fetchval("select 1")
            await connection.execute("select 2")
    unit = next(span for span in exporter.get_finished_spans() if span.name == "unit")
    children = [span for span in exporter.get_finished_spans() if span.name != "unit"]

    assert _statements(exporter) == ["select 1", "select 2"]
    assert all(span.parent and span.parent.span_id == unit.context.span_id for span in children)
    async with database.connection() as connection:
        assert _class_of(connection) is QuietConnection  # given back quiet


async def test_a_read_under_a_recorded_span_is_traced(
    tracing: Tracing, database: Database, exporter: InMemorySpanExporter
) -> None:
    with tracing.span("unit"):
        async with database.connection() as connection:
            await connection.fetch("select 3")

    assert _statements(exporter) == ["select 3"]


def _quiet_context(tracing: Tracing, where: str) -> AbstractContextManager[object]:
    if where == "under an unsampled span":
        return tracing.span("unit", parent=UNSAMPLED_PARENT)
    return instrumented(False)  # the services' base context (instrument_only_inside_spans)


@pytest.mark.parametrize("where", ["under an unsampled span", "outside every span"])
async def test_statements_where_nothing_records_never_reach_the_instrumentation(
    tracing: Tracing, database: Database, exporter: InMemorySpanExporter, where: str
) -> None:
    with _quiet_context(tracing, where):
        async with database.transaction() as connection:
            assert _class_of(connection) is QuietConnection
            await connection.fetchval("select 1")

    assert exporter.get_finished_spans() == ()


async def test_a_failed_recorded_unit_gives_its_connection_back_quiet(
    tracing: Tracing, database: Database, exporter: InMemorySpanExporter
) -> None:
    async def failing_unit() -> None:
        with tracing.span("unit"):
            async with database.transaction() as connection:
                await connection.fetchval("select 1")
                raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_unit()

    async with database.connection() as connection:
        assert _class_of(connection) is QuietConnection
        assert not connection.is_in_transaction()
    assert _statements(exporter) == ["select 1"]
