"""``Database.open`` opens every pool or none: a pool that cannot be made closes the ones made
before it, so that a later ``open`` (a restarted lifespan) tries them all again."""

from __future__ import annotations

from typing import Any

import pytest

from eventing.database import Database, PoolOptions


class FakePool:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class FlakyPools:
    """Makes pools in order; the ``fail_at``-th one raises (once)."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.made: list[FakePool] = []

    async def __call__(self, min_size: int, max_size: int) -> FakePool:
        if len(self.made) + 1 == self.fail_at:
            self.fail_at = 0
            raise OSError("connection refused")
        pool = FakePool(f"{min_size}-{max_size}")
        self.made.append(pool)
        return pool


def _database(monkeypatch: pytest.MonkeyPatch, pools: FlakyPools) -> Database:
    database = Database(
        "postgresql+asyncpg://u@localhost/db",
        PoolOptions(min_size=2, max_size=5, workers_max_size=3),
    )
    for each in (database, database.workers):
        monkeypatch.setattr(each, "_create_pool", pools)
    return database


@pytest.mark.parametrize("fail_at", [2, 3])  # the workers' pool, the probe's
async def test_a_pool_that_cannot_be_made_leaves_none_open_and_open_tries_again(
    monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    pools = FlakyPools(fail_at)
    database = _database(monkeypatch, pools)

    with pytest.raises(OSError, match="refused"):
        await database.open()
    assert len(pools.made) == fail_at - 1
    assert all(pool.closed for pool in pools.made)

    await database.open()
    opened: list[Any] = pools.made[-3:]
    assert [pool.name for pool in opened] == ["2-5", "1-3", "1-1"]
    assert not any(pool.closed for pool in opened)
    assert database.pool is opened[0]
    assert database.workers.pool is opened[1]
