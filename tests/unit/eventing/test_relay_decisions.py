"""The relay's decisions against an in-memory outbox and producer (tests/unit/eventing/
outbox_fakes.py): what it sends, marks, skips and waits for. The same guarantees on the real
PostgreSQL and Kafka: tests/integration/eventing/test_relay.py and test_relay_crash.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import MetaData

from eventing.outbox import outbox_table
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay, PublishedHook, RelayOptions
from tests.unit.eventing.outbox_fakes import FakeOutboxDatabase, FakeProducer

# Nothing in these tests may wait for the idle poll: a wake-up comes from NOTIFY or not at all.
QUICK = RelayOptions(
    batch_size=100, idle_poll_seconds=600, standby_poll_seconds=0.01, failure_backoff_seconds=0
)


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> FakeOutboxDatabase:
    fake = FakeOutboxDatabase()
    monkeypatch.setattr("eventing.relay.asyncpg.connect", fake.connect)
    return fake


def _relay(
    producer: FakeProducer, options: RelayOptions = QUICK, before_mark: PublishedHook | None = None
) -> OutboxRelay:
    table = outbox_table(MetaData(schema="things"))
    fake: AsyncProducer = producer  # type: ignore[assignment]
    return OutboxRelay(
        dsn="postgresql://fake",
        table=table,
        producer=fake,
        options=options,
        before_mark=before_mark,
    )


@asynccontextmanager
async def _running(relay: OutboxRelay) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not (callable(condition) and condition()):
            await asyncio.sleep(0.001)


async def test_a_standby_stopped_before_it_ever_led_returns_and_closes_its_connection(
    database: FakeOutboxDatabase,
) -> None:
    leader, standby = _relay(FakeProducer()), _relay(FakeProducer())
    async with _running(leader):
        await _until(lambda: leader.is_leader)
        stop = asyncio.Event()
        waiting = asyncio.create_task(standby.run(stop))
        await _until(lambda: len(database.connections) == 3)  # leader, its marker, standby
        await asyncio.sleep(0.05)  # a few standby polls
        stop.set()
        await asyncio.wait_for(waiting, 5)
        assert not standby.is_leader
        assert database.connections[2].closed
        assert len(database.connections) == 3, "a standby opens no marking connection"
        assert leader.is_leader


async def test_rows_go_out_in_position_order_and_are_marked_once_acknowledged(
    database: FakeOutboxDatabase,
) -> None:
    database.add(3, 1, 2)
    producer = FakeProducer()
    async with _running(_relay(producer)):
        await _until(lambda: database.published == {1, 2, 3})
    assert producer.sent_ids == [["e1", "e2", "e3"]]
    topic, record = producer.batches[0][0]
    assert topic == "things"
    assert record.key == b"k"
    assert record.value == b'{"n":1}'


async def test_a_full_batch_is_followed_by_the_next_at_once(database: FakeOutboxDatabase) -> None:
    database.add(*range(1, 6))
    producer = FakeProducer()
    options = RelayOptions(batch_size=2, idle_poll_seconds=600, failure_backoff_seconds=0)
    async with _running(_relay(producer, options)):
        await _until(lambda: len(database.published) == 5)
    assert producer.sent_ids == [["e1", "e2"], ["e3", "e4"], ["e5"]]
    assert {limit for limit, _ in database.fetches} == {2}


async def test_nothing_beyond_a_failed_delivery_is_marked_and_it_goes_out_again_at_once(
    database: FakeOutboxDatabase,
) -> None:
    database.add(1, 2, 3)
    producer = FakeProducer(refuse=["e2"])
    acknowledged: list[list[int]] = []

    async def before_mark(positions: Sequence[int]) -> None:
        acknowledged.append(list(positions))

    async with _running(_relay(producer, before_mark=before_mark)):
        await _until(lambda: database.published == {1, 2, 3})
    assert producer.sent_ids == [["e1", "e2", "e3"], ["e2", "e3"]]
    assert acknowledged == [[1], [2, 3]]


async def test_a_batch_that_fails_at_its_first_record_marks_nothing(
    database: FakeOutboxDatabase,
) -> None:
    database.add(1, 2)
    producer = FakeProducer(refuse=["e1"])
    async with _running(_relay(producer)):
        await _until(lambda: database.published == {1, 2})
    assert producer.sent_ids == [["e1", "e2"], ["e1", "e2"]]


async def test_rows_still_being_marked_are_not_sent_again(database: FakeOutboxDatabase) -> None:
    database.add(1, 2)
    database.mark_gate = asyncio.Event()
    producer = FakeProducer()
    options = RelayOptions(batch_size=1, idle_poll_seconds=600)
    async with _running(_relay(producer, options)):
        await _until(lambda: len(database.fetches) >= 2)
        assert database.fetches[1] == (1, [1]), "the row in marking is left out of the fetch"
        assert producer.sent_ids == [["e1"], ["e2"]]
        database.mark_gate.set()
        await _until(lambda: database.published == {1, 2})
    assert producer.sent_ids == [["e1"], ["e2"]]


async def test_a_relay_ending_on_an_error_while_a_marking_runs_raises_that_error_and_closes_both(
    database: FakeOutboxDatabase,
) -> None:
    database.add(1, 2)
    database.mark_gate = asyncio.Event()  # the first batch's marking never finishes
    database.failing_fetch = 2
    relay = _relay(FakeProducer(), RelayOptions(batch_size=1, idle_poll_seconds=600))
    with pytest.raises(ConnectionError, match="while fetching"):
        await asyncio.wait_for(relay.run(asyncio.Event()), 5)
    assert [connection.closed for connection in database.connections] == [True, True]
    assert database.published == set(), "the abandoned marking did not complete"
    assert not relay.is_leader


async def test_a_failed_marking_ends_the_relay(database: FakeOutboxDatabase) -> None:
    database.add(1)
    database.mark_error = ConnectionError("marker lost")
    relay = _relay(FakeProducer())
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(relay.run(asyncio.Event()), 5)
    assert not relay.is_leader
    assert all(connection.closed for connection in database.connections)


async def test_a_notification_on_the_outbox_channel_wakes_the_relay(
    database: FakeOutboxDatabase,
) -> None:
    producer = FakeProducer()
    async with _running(_relay(producer)):
        await _until(lambda: database.purges)
        database.add(1)
        database.notify("things_outbox")
        await _until(lambda: database.published == {1})


async def test_published_rows_are_purged_at_most_once_per_interval(
    database: FakeOutboxDatabase,
) -> None:
    options = RelayOptions(idle_poll_seconds=600, retention=timedelta(minutes=7))
    async with _running(_relay(FakeProducer(), options)):
        await _until(lambda: database.purges)
        for position in (1, 2):
            database.add(position)
            database.notify("things_outbox")
            await _until(lambda position=position: position in database.published)
    assert database.purges == [timedelta(minutes=7)]


async def test_a_backlog_of_published_rows_is_purged_a_batch_per_idle_moment(
    database: FakeOutboxDatabase,
) -> None:
    """Full batches purge on at the next idle moment; a short one waits for the interval."""
    database.purgeable = [3, 3, 1, 7]
    options = RelayOptions(idle_poll_seconds=0.01, purge_batch_size=3)
    async with _running(_relay(FakeProducer(), options)):
        await _until(lambda: len(database.purges) == 3)
        await asyncio.sleep(0.2)  # twenty idle moments: none purges before the interval
    assert len(database.purges) == 3
    assert database.purgeable == [7]


async def test_with_no_purge_interval_every_idle_moment_purges(
    database: FakeOutboxDatabase,
) -> None:
    options = RelayOptions(idle_poll_seconds=600, purge_interval_seconds=0)
    async with _running(_relay(FakeProducer(), options)):
        await _until(lambda: database.purges)
        database.add(1)
        database.notify("things_outbox")
        await _until(lambda: len(database.purges) == 2)


async def test_the_idle_poll_finds_rows_whose_notification_was_lost(
    database: FakeOutboxDatabase,
) -> None:
    options = RelayOptions(idle_poll_seconds=0.01)
    async with _running(_relay(FakeProducer(), options)):
        await _until(lambda: database.purges)
        database.add(1)
        await _until(lambda: database.published == {1})


async def test_a_standby_takes_over_once_the_leaders_connection_is_gone(
    database: FakeOutboxDatabase,
) -> None:
    database.add(1)
    first, second = FakeProducer(), FakeProducer()
    leader, standby = _relay(first), _relay(second)
    async with _running(leader) as stop_leader:
        await _until(lambda: database.published == {1})
        async with _running(standby):
            await asyncio.sleep(0.05)
            assert not standby.is_leader
            stop_leader.set()
            await _until(lambda: standby.is_leader)
            assert not leader.is_leader
            database.add(2)
            database.notify("things_outbox")
            await _until(lambda: database.published == {1, 2})
    assert first.sent_ids == [["e1"]]
    assert second.sent_ids == [["e2"]]
    assert set(database.lock_holders) == set(), "each relay's lock ends with its connection"


async def test_a_stopped_leader_leaves_nothing_half_marked(database: FakeOutboxDatabase) -> None:
    database.add(1)
    relay = _relay(FakeProducer())
    async with _running(relay):
        await _until(lambda: database.published == {1})
        assert relay.is_leader
    assert not relay.is_leader
    assert all(connection.closed for connection in database.connections)
    assert len(database.connections) == 2
