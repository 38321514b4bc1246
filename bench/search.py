"""Search latency of the Care Plan service: ``GET /availability`` over HTTP, p50 and p99.

    uv run python bench/search.py [--requests 1000] [--explain]
    uv run python bench/search.py --url http://127.0.0.1:8080 --database-url postgresql://...

Seeds 100,000 slots from 2,000 providers straight into the read model (``COPY``), then times
five typical filter combinations and deep pages, one request at a time over a keep-alive
connection, against the running service. Without ``--url`` it starts Kafka, PostgreSQL and the
Care Plan service itself through the launcher (state in .careplan/bench-search, ports shifted by
21000) and stops them at the end; with ``--url`` the seeded rows are removed again afterwards
(``--keep`` leaves them). Target: p99 under 20 ms per query.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from care_plan.persistence.search import Cursor, SlotQuery, build_query
from contract.events import EncounterType
from devstack.catalog import CARE_PLAN, KAFKA, POSTGRES
from devstack.platform import Platform
from devstack.settings import DevstackSettings

REPO = Path(__file__).resolve().parents[1]
SLOTS, PROVIDERS = 100_000, 2_000
TARGET_P99_MS = 20.0
# Provider ids of the seed are derived from this namespace, so that a rerun replaces them.
NAMESPACE = uuid.UUID("6f0b2a2e-55d4-4f4e-9a53-3c9d1c0b7a10")
SPECIALITIES = [
    "Cardiology", "Dermatology", "Dentist", "Endocrinology", "Gastroenterology", "Geriatrics",
    "Gynecology", "Hematology", "Nephrology", "Neurology", "Oncology", "Ophthalmology",
    "Orthopedics", "Pediatrics", "Psychiatry", "Pulmonology", "Radiology", "Rheumatology",
    "Surgery", "Urology",
]  # fmt: skip
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
DAYS = 90


@dataclass(frozen=True)
class Provider:
    id: uuid.UUID
    speciality: str
    gender: str


def providers() -> list[Provider]:
    rng = random.Random(2_000)
    return [
        Provider(uuid.uuid5(NAMESPACE, f"provider-{n}"), rng.choice(SPECIALITIES),
                 rng.choice(["MALE", "FEMALE"]))
        for n in range(PROVIDERS)
    ]  # fmt: skip


def seed_rows(people: list[Provider]) -> list[tuple[Any, ...]]:
    """50 half-hour slots per provider over the next 90 days; 3 % of them deleted."""
    rng = random.Random(100_000)
    rows = []
    per_provider = SLOTS // PROVIDERS
    for provider in people:
        starts = rng.sample(range(DAYS * 16), per_provider)  # 16 half-hours a day, 08:00-16:00
        for start in starts:
            begins = START + timedelta(days=start // 16, hours=8, minutes=30 * (start % 16))
            rows.append((
                uuid.uuid4(), provider.id, "Bench", f"Provider-{provider.id.hex[:6]}",
                provider.speciality, provider.gender, begins, begins + timedelta(minutes=30),
                rng.choice(list(EncounterType)).value, 1, "bench-seed",
                START if rng.random() < 0.03 else None,
            ))  # fmt: skip
    return rows


async def seed(dsn: str, people: list[Provider]) -> list[Cursor]:
    """Replace the bench's slots; returns cursors deep into the bookable slots."""
    rows = seed_rows(people)
    connection = await asyncpg.connect(dsn)
    try:
        ids = [p.id for p in people]
        await connection.execute("delete from care_plan.slots where provider_id = any($1)", ids)
        began = time.perf_counter()
        await connection.copy_records_to_table(
            "slots", schema_name="care_plan", records=rows,
            columns=["id", "provider_id", "first_name", "last_name", "speciality", "gender",
                     "from_date", "to_date", "encounter_type", "version", "event_id",
                     "deleted_at"],
        )  # fmt: skip
        await connection.execute("analyze care_plan.slots")
        print(f"seeded {len(rows):,} slots of {len(people):,} providers with COPY in "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        total = await connection.fetchval(
            "select count(*) from care_plan.slots where deleted_at is null and held_by is null"
        )
        deep = await connection.fetch(
            "select from_date, id from care_plan.slots where deleted_at is null and held_by is null"
            " order by from_date, id offset $1 limit 1", total * 4 // 5)  # fmt: skip
        sample = await connection.fetch(
            "select from_date, id from care_plan.slots where deleted_at is null and held_by is null"
            " and from_date >= $1 order by random() limit 200", START + timedelta(days=DAYS // 2))  # fmt: skip
    finally:
        await connection.close()
    return [Cursor(deep[0]["from_date"], deep[0]["id"])] + [
        Cursor(row["from_date"], row["id"]) for row in sample
    ]


async def unseed(dsn: str, people: list[Provider]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("delete from care_plan.slots where provider_id = any($1)",
                                 [p.id for p in people])  # fmt: skip
    finally:
        await connection.close()


Params = dict[str, str]


def cases(
    people: list[Provider], cursors: list[Cursor]
) -> dict[str, Callable[[random.Random], Params]]:
    def week(rng: random.Random) -> tuple[str, str]:
        begins = START + timedelta(days=rng.randrange(DAYS - 7))
        return begins.isoformat(), (begins + timedelta(days=7)).isoformat()

    return {
        "no filter, first page": lambda rng: {"limit": "50"},
        "speciality": lambda rng: {"speciality": rng.choice(SPECIALITIES), "limit": "50"},
        "speciality + encounterType + gender": lambda rng: {
            "speciality": rng.choice(SPECIALITIES).lower(),
            "encounterType": rng.choice(["ONSITE", "VIRTUAL"]),
            "gender": rng.choice(["MALE", "FEMALE"]), "limit": "50"},
        "providerId": lambda rng: {"providerId": str(rng.choice(people).id), "limit": "50"},
        "speciality + one-week window": lambda rng: dict(
            zip(("from", "to"), week(rng), strict=True), speciality=rng.choice(SPECIALITIES),
            limit="50"),
        "deep page (80,000 slots in)": lambda rng: {"after": cursors[0].encode(), "limit": "50"},
        "deep page of a speciality": lambda rng: {
            "after": rng.choice(cursors[1:]).encode(), "speciality": rng.choice(SPECIALITIES),
            "limit": "50"},
    }  # fmt: skip


@dataclass
class Result:
    case: str
    latencies_ms: list[float]
    rows: list[int]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(client: httpx.AsyncClient, name: str, make: Callable[[random.Random], Params],
                  requests: int) -> Result:  # fmt: skip
    rng = random.Random(name)
    for _ in range(20):  # warm the connection, the plan cache and the buffers
        (await client.get("/availability", params=make(rng))).raise_for_status()
    result = Result(name, [], [])
    for _ in range(requests):
        params = make(rng)
        began = time.perf_counter()
        response = await client.get("/availability", params=params)
        elapsed = (time.perf_counter() - began) * 1000
        response.raise_for_status()
        result.latencies_ms.append(elapsed)
        result.rows.append(len(response.json()))
    return result


def print_table(results: list[Result]) -> bool:
    header = (
        f"{'query':<38} {'n':>6} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  p99<20ms"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for r in results:
        p99 = r.percentile(99)
        ok &= p99 < TARGET_P99_MS
        print(f"{r.case:<38} {len(r.latencies_ms):>6} {statistics.mean(r.rows):>5.0f} "
              f"{r.percentile(50):>8.2f} {p99:>8.2f} {max(r.latencies_ms):>8.2f}  "
              f"{'yes' if p99 < TARGET_P99_MS else 'NO'}")  # fmt: skip
    return ok


async def explain(dsn: str, people: list[Provider], cursors: list[Cursor]) -> None:
    queries = {
        "no filter, first page": SlotQuery(limit=50),
        "speciality": SlotQuery(speciality="dentist", limit=50),
        "speciality + encounterType + gender": SlotQuery(
            speciality="dentist", encounter_type=EncounterType.ONSITE, gender="female", limit=50),
        "providerId": SlotQuery(provider_id=people[0].id, limit=50),
        "speciality + one-week window": SlotQuery(
            speciality="Dentist", from_=START + timedelta(days=30),
            to=START + timedelta(days=37), limit=50),
        "deep page (80,000 slots in)": SlotQuery(after=cursors[0], limit=50),
    }  # fmt: skip
    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as connection:
            for name, query in queries.items():
                sql, params = build_query(query)
                plan = await connection.execute(
                    text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"), params
                )
                print(f"\n--- {name}")
                print("\n".join(row[0] for row in plan))
    finally:
        await engine.dispose()


async def run(url: str, dsn: str, api_key: str, requests: int, keep: bool,
              show_plans: bool) -> bool:  # fmt: skip
    people = providers()
    cursors = await seed(dsn, people)
    try:
        async with httpx.AsyncClient(base_url=url, headers={"X-API-KEY": api_key},
                                     timeout=10) as client:  # fmt: skip
            results = [await measure(client, name, make, requests)
                       for name, make in cases(people, cursors).items()]  # fmt: skip
        print(f"\nGET /availability against {url}, {requests} requests per query, one at a time\n")
        ok = print_table(results)
        if show_plans:
            await explain(dsn, people, cursors)
        return ok
    finally:
        if not keep:
            await unseed(dsn, people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="a running Care Plan service (default: start one)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="its database (with --url; default: $DATABASE_URL)",
    )
    parser.add_argument("--api-key", default=os.environ.get("API_KEY", "LOCAL_DEV"))
    parser.add_argument("--requests", type=int, default=1000, help="per query (default 1000)")
    parser.add_argument("--keep", action="store_true", help="leave the seeded slots in place")
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    args = parser.parse_args()

    platform = None
    if args.url:
        if not args.database_url:
            parser.error("--url needs --database-url (or DATABASE_URL)")
        url, database_url = args.url, args.database_url
    else:
        settings = DevstackSettings(state_dir=REPO / ".careplan" / "bench-search", port_offset=21000,
                                    kafka_bootstrap_servers=None, database_url=None,
                                    aws_endpoint_url=None)  # fmt: skip
        platform = Platform(settings, (KAFKA, POSTGRES, CARE_PLAN))
        print("starting Kafka, PostgreSQL and the Care Plan service ...")
        platform.up(["care-plan"])
        url = f"http://127.0.0.1:{settings.care_plan_port}"
        database_url, args.api_key = settings.sqlalchemy_url, settings.api_key
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        ok = asyncio.run(run(url, dsn, args.api_key, args.requests, args.keep, args.explain))
    finally:
        if platform is not None:
            platform.down()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
