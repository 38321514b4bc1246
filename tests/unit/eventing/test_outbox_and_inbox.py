"""The outbox and inbox without a database: their tables' DDL, the outbox row to Kafka record
mapping, what ``add_all`` and the inbox hand to the connection, and the idempotent wrappers'
decisions. The SQL on a real PostgreSQL: tests/integration/eventing/test_outbox.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from eventing.cloudevents import Event
from eventing.consumer_types import RecordContext
from eventing.inbox import (
    Inbox,
    idempotent,
    idempotent_batch,
    idempotent_set,
    inbox_table,
    one_at_a_time,
)
from eventing.outbox import (
    Outbox,
    notify_channel,
    outbox_table,
    qualified_name,
    record_from_row,
)
from tests.unit.eventing.outbox_fakes import OCCURRED, outbox_row

# Migration 0001 of every service created these tables from the functions under test, and live
# databases keep that shape: a change to either function needs a migration of its own.
OUTBOX_DDL = """
CREATE TABLE svc.outbox (
\tposition BIGINT GENERATED ALWAYS AS IDENTITY, 
\tevent_id TEXT NOT NULL, 
\ttopic TEXT NOT NULL, 
\tmessage_key TEXT, 
\tevent_type TEXT NOT NULL, 
\tsource TEXT NOT NULL, 
\tsubject TEXT, 
\toccurred_at TIMESTAMP WITH TIME ZONE NOT NULL, 
\tpayload JSON NOT NULL, 
\ttraceparent TEXT, 
\tcreated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
\tpublished_at TIMESTAMP WITH TIME ZONE, 
\tPRIMARY KEY (position), 
\tUNIQUE (event_id)
)
"""  # noqa: W291
OUTBOX_INDEX = "CREATE INDEX outbox_unpublished ON svc.outbox (position) WHERE published_at IS NULL"
INBOX_DDL = """
CREATE TABLE svc.inbox (
\tconsumer TEXT NOT NULL, 
\tevent_id TEXT NOT NULL, 
\tprocessed_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
\tPRIMARY KEY (consumer, event_id)
)
"""  # noqa: W291


def _ddl(table: Table) -> tuple[str, list[str]]:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return (
        str(CreateTable(table).compile(dialect=dialect)).strip(),
        [str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes],
    )


def test_the_outbox_table_keeps_the_shape_its_first_migration_created() -> None:
    assert _ddl(outbox_table(MetaData(schema="svc"))) == (OUTBOX_DDL.strip(), [OUTBOX_INDEX])


def test_the_inbox_table_keeps_the_shape_its_first_migration_created() -> None:
    assert _ddl(inbox_table(MetaData(schema="svc"))) == (INBOX_DDL.strip(), [])


def test_names_quote_the_schema_and_default_to_public_for_notifications() -> None:
    assert qualified_name(outbox_table(MetaData(schema="svc"))) == '"svc"."outbox"'
    assert qualified_name(outbox_table(MetaData())) == '"outbox"'
    assert notify_channel("svc") == "svc_outbox"
    assert notify_channel(None) == "public_outbox"
    assert Outbox(outbox_table(MetaData(schema="svc"))).channel == "svc_outbox"


def test_an_outbox_row_becomes_a_binary_mode_record_with_its_payload_text_unparsed() -> None:
    row = {**outbox_row(4, key="slot-1"), "subject": "s", "traceparent": "tp-row"}
    record = record_from_row(row)  # type: ignore[arg-type]
    assert record.key == b"slot-1"
    assert record.value == b'{"n":4}'
    headers = dict(record.headers)
    assert headers["ce_id"] == b"e4"
    assert headers["ce_source"] == b"/things"
    assert headers["ce_type"] == b"THING_HAPPENED"
    assert headers["ce_subject"] == b"s"
    assert headers["ce_time"] == b"2026-01-02T03:04:05Z"
    assert headers["traceparent"] == b"tp-row"
    assert dict(record_from_row(row, traceparent="tp-publish").headers)["traceparent"] == (  # type: ignore[arg-type]
        b"tp-publish"
    )
    assert record_from_row({**row, "message_key": None}).key is None  # type: ignore[arg-type]


class RecordingConnection:
    def __init__(self, rows: Sequence[dict[str, Any]] = ()) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._rows = list(rows)

    async def execute(self, sql: str, *args: Any) -> None:
        self.calls.append((sql, args))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.calls.append((sql, args))
        return self._rows

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        self.calls.append((sql, args))
        return self._rows[0] if self._rows else None


def _event(n: int, **fields: Any) -> Event:
    return Event(id=f"e{n}", source="/s", type="T", data={"n": n}, **fields)


async def test_add_all_stages_every_event_in_one_statement_in_the_given_order() -> None:
    outbox = Outbox(outbox_table(MetaData(schema="svc")))
    connection = RecordingConnection()
    first = _event(1, key="k1", subject="sub", time=OCCURRED, traceparent="tp")
    await outbox.add_all(connection, [("a", first), ("b", _event(2))])  # type: ignore[arg-type]
    [(sql, args)] = connection.calls
    assert sql.startswith('with staged as (insert into "svc"."outbox"')
    assert args == (
        ["e1", "e2"],
        ["a", "b"],
        ["k1", None],
        ["T", "T"],
        ["/s", "/s"],
        ["sub", None],
        [OCCURRED, None],
        [{"n": 1}, {"n": 2}],
        ["tp", None],
        "svc_outbox",
    )


async def test_add_binds_every_event_to_one_topic_and_nothing_staged_sends_nothing() -> None:
    outbox = Outbox(outbox_table(MetaData(schema="svc")))
    connection = RecordingConnection()
    await outbox.add(connection, "t", [_event(1), _event(2)])  # type: ignore[arg-type]
    assert connection.calls[0][1][1] == ["t", "t"]
    await outbox.add_all(connection, [])  # type: ignore[arg-type]
    await outbox.add(connection, "t", [])  # type: ignore[arg-type]
    assert len(connection.calls) == 1


async def test_the_backlog_is_the_oldest_rows_age_and_the_count_never_a_negative_age() -> None:
    outbox = Outbox(outbox_table(MetaData(schema="svc")))
    assert await outbox.backlog(RecordingConnection([{"age": 2.5, "waiting": 3}])) == (2.5, 3)  # type: ignore[arg-type]
    # A clock step between the row's commit and now() reads as a negative age.
    assert await outbox.backlog(RecordingConnection([{"age": -1.0, "waiting": 0}])) == (0.0, 0)  # type: ignore[arg-type]


async def test_the_inbox_marks_ids_for_its_consumer_and_returns_the_new_ones() -> None:
    inbox = Inbox(inbox_table(MetaData(schema="svc")), "projector")
    connection = RecordingConnection([{"event_id": "e2"}])
    assert await inbox.first_deliveries(connection, ("e1", "e2")) == {"e2"}  # type: ignore[arg-type]
    [(sql, args)] = connection.calls
    assert sql.startswith('insert into "svc"."inbox" (consumer, event_id)')
    assert args == ("projector", ["e1", "e2"])
    assert await inbox.first_delivery(connection, "e2") is True  # type: ignore[arg-type]
    assert await inbox.first_delivery(RecordingConnection([]), "e2") is False  # type: ignore[arg-type]


class FakeDatabase:
    """A transaction that yields one recording connection; the inbox has seen ``seen``."""

    def __init__(self, seen: set[str]) -> None:
        self.seen = seen
        self.transactions = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.transactions += 1
        yield self


class FakeInbox:
    def __init__(self, database: FakeDatabase) -> None:
        self._database = database

    async def first_deliveries(self, connection: Any, event_ids: Sequence[str]) -> set[str]:
        assert connection is self._database, "the mark runs in the handler's transaction"
        fresh = {event_id for event_id in event_ids if event_id not in self._database.seen}
        self._database.seen |= fresh
        return fresh

    async def first_delivery(self, connection: Any, event_id: str) -> bool:
        return bool(await self.first_deliveries(connection, [event_id]))


def _context(offset: int) -> RecordContext:
    return RecordContext("t", 0, offset, 0, None, b"{}", [])


@pytest.mark.parametrize("seen", [set(), {"e1"}])
async def test_idempotent_runs_the_handler_once_per_event_in_the_marks_transaction(
    seen: set[str],
) -> None:
    database = FakeDatabase(set(seen))
    applied: list[tuple[Any, str]] = []

    async def handler(connection: Any, event: Event) -> None:
        applied.append((connection, event.id))

    wrapped = idempotent(database, FakeInbox(database), handler)  # type: ignore[arg-type]
    await wrapped(_event(1), _context(0))
    await wrapped(_event(1), _context(1))
    assert applied == ([] if seen else [(database, "e1")])
    assert database.transactions == 2


async def test_idempotent_batch_applies_fresh_events_once_in_order_in_one_transaction() -> None:
    database = FakeDatabase({"e2"})
    applied: list[tuple[Any, str]] = []

    async def handler(connection: Any, event: Event) -> None:
        applied.append((connection, event.id))

    wrapped = idempotent_batch(database, FakeInbox(database), handler)  # type: ignore[arg-type]
    events = [_event(3), _event(1), _event(2), _event(3)]
    await wrapped([(event, _context(offset)) for offset, event in enumerate(events)])
    assert applied == [(database, "e3"), (database, "e1")]
    assert database.transactions == 1


async def test_idempotent_set_hands_the_fresh_events_over_in_one_call() -> None:
    database = FakeDatabase({"e2"})
    calls: list[tuple[Any, list[str]]] = []

    async def handler(connection: Any, events: Sequence[Event]) -> None:
        calls.append((connection, [event.id for event in events]))

    wrapped = idempotent_set(database, FakeInbox(database), handler)  # type: ignore[arg-type]
    events = [_event(3), _event(1), _event(2), _event(3)]
    await wrapped([(event, _context(offset)) for offset, event in enumerate(events)])
    # A poll of events seen before only calls nobody.
    await wrapped([(_event(2), _context(4))])
    assert calls == [(database, ["e3", "e1"])]
    assert database.transactions == 2


async def test_one_at_a_time_hands_a_set_handler_one_event() -> None:
    calls: list[list[str]] = []

    async def handler(_: Any, events: Sequence[Event]) -> str:
        calls.append([event.id for event in events])
        return "outcome"

    assert await one_at_a_time(handler)(None, _event(1)) == "outcome"  # type: ignore[arg-type]
    assert calls == [["e1"]]
