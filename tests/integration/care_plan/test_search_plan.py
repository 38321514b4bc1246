"""The planner answers every typical search from the partial indexes over the bookable slots,
reading about one page of rows (no sequential scan, no sort of a large match), however deep the
page. Run with ``-s`` to see the plans."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from care_plan.persistence.search import Cursor, SlotQuery, build_query
from care_plan.persistence.tables import BOOKABLE, slots
from contract.events import EncounterType
from devstack.settings import DevstackSettings
from tests.integration.care_plan.support import create_database, drop_database

pytestmark = pytest.mark.integration

SLOTS, PROVIDERS, LIMIT = 20_000, 400, 50
SPECIALITIES = [f"Speciality{n:02d}" for n in range(20)]
START = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def seeded(infrastructure: DevstackSettings) -> AsyncIterator[tuple[AsyncEngine, dict]]:
    url = await create_database(infrastructure, "care_plan_plan")
    rng = random.Random(7)
    providers = [
        (uuid.uuid4(), rng.choice(SPECIALITIES), rng.choice(["MALE", "FEMALE"]))
        for _ in range(PROVIDERS)
    ]
    rows = []
    for n in range(SLOTS):
        provider, speciality, gender = providers[n % PROVIDERS]
        begins = START + timedelta(minutes=30 * rng.randrange(365 * 16))
        state = rng.random()
        rows.append(
            (
                uuid.uuid4(),
                provider,
                "Fn",
                "Ln",
                speciality,
                gender,
                begins,
                begins + timedelta(minutes=30),
                rng.choice(list(EncounterType)).value,
                1,
                "seed",
                START if state < 0.05 else None,
                uuid.uuid4() if 0.05 <= state < 0.10 else None,
                # Booked through another deployment, as the provider reports it.
                uuid.uuid4() if 0.10 <= state < 0.15 else None,
            )
        )
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.copy_records_to_table(
            "slots",
            schema_name="care_plan",
            records=rows,
            columns=[
                "id",
                "provider_id",
                "first_name",
                "last_name",
                "speciality",
                "gender",
                "from_date",
                "to_date",
                "encounter_type",
                "version",
                "event_id",
                "deleted_at",
                "held_by",
                "provider_booking_id",
            ],
        )
        await connection.execute("analyze care_plan.slots")
        ordered = await connection.fetch(
            f"select from_date, id from care_plan.slots where {BOOKABLE} order by from_date, id"
        )
    finally:
        await connection.close()
    engine = create_async_engine(url)
    deep = ordered[len(ordered) * 3 // 4]
    yield (
        engine,
        {
            "provider": providers[3][0],
            "speciality": providers[3][1],
            "deep": Cursor(deep["from_date"], deep["id"]),
        },
    )
    await engine.dispose()
    await drop_database(infrastructure, url)


CASES = {
    "first page, no filter": (lambda s: SlotQuery(limit=LIMIT), "slots_bookable_by_time"),
    "speciality": (
        lambda s: SlotQuery(speciality=s["speciality"].lower(), limit=LIMIT),
        "slots_bookable_by_speciality",
    ),
    "speciality + encounter type + gender": (
        lambda s: SlotQuery(
            speciality=s["speciality"],
            encounter_type=EncounterType.ONSITE,
            gender="FEMALE",
            limit=LIMIT,
        ),
        "slots_bookable_by_speciality_kind",
    ),
    "provider": (
        lambda s: SlotQuery(provider_id=s["provider"], limit=LIMIT),
        "slots_bookable_by_provider",
    ),
    "speciality in a one-week window": (
        lambda s: SlotQuery(
            speciality=s["speciality"],
            from_=START + timedelta(days=100),
            to=START + timedelta(days=107),
            limit=LIMIT,
        ),
        "slots_bookable_by_speciality",
    ),
    "deep page (after a cursor three quarters in)": (
        lambda s: SlotQuery(after=s["deep"], limit=LIMIT),
        "slots_bookable_by_time",
    ),
    "deep page of a speciality": (
        lambda s: SlotQuery(speciality=s["speciality"], after=s["deep"], limit=LIMIT),
        "slots_bookable_by_speciality",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_search_is_an_index_range_scan_in_keyset_order(
    seeded: tuple[AsyncEngine, dict], case: str
) -> None:
    engine, sample = seeded
    make_query, index = CASES[case]
    sql, params = build_query(make_query(sample))
    async with engine.connect() as connection:
        plan = "\n".join(
            row[0]
            for row in await connection.execute(
                text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), params
            )
        )
    print(f"\n--- {case}\n{plan}")
    assert f"using {index}" in plan or f"on {index}" in plan, f"{index} not used"
    assert "Seq Scan" not in plan
    # Bounded work whatever the table size: a few pages of heap blocks at most. (The planner
    # may sort a match that is small anyway, e.g. one provider's slots, instead of walking the
    # index in order; then the match itself is what bounds the work.)
    buffers = int(re.search(r"Buffers: shared hit=(\d+)", plan).group(1))  # type: ignore[union-attr]
    assert buffers <= 4 * (LIMIT + 1), f"{buffers} buffers read for one page"
    if "after" in case:
        assert "ROW(from_date, id) >" in plan, "the cursor must start the range scan"


async def test_the_migrations_build_the_slot_indexes_the_tables_declare(
    seeded: tuple[AsyncEngine, dict],
) -> None:
    """``tables.py`` (what queries are written against) and the migrations agree: the same
    indexes, with the same partial predicate, as PostgreSQL itself spells them."""
    engine, _ = seeded

    async def definitions(schema: str) -> dict[str, str]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "select indexname, indexdef from pg_indexes"
                    " where schemaname = :schema and tablename = 'slots'"
                ),
                {"schema": schema},
            )
            return {name: d.replace(f" {schema}.slots ", " slots ") for name, d in rows}

    async with engine.begin() as connection:
        await connection.execute(text("create schema if not exists declared"))
        declared = await connection.execution_options(
            schema_translate_map={"care_plan": "declared"}
        )
        await declared.run_sync(lambda sync: slots.create(sync, checkfirst=True))
    migrated, from_tables = await definitions("care_plan"), await definitions("declared")
    assert migrated == from_tables
    assert "AND (provider_booking_id IS NULL)" in migrated["slots_bookable_by_time"]
