"""Dead-letter redrive end to end: a Care Plan whose read model refuses one provider's slots
parks the availability event in `provider.availability.dlt`; once the cause is fixed,
`careplan dlt replay` (run twice) puts it back once and the slot is projected exactly once.

The Care Plan here is one of its own (database, consumer group) with two attempts per record,
so that the record is parked in seconds instead of after the default two minutes of retries;
the session's Care Plan sees the replay too and, having applied the event, ignores it.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from typer.testing import CliRunner

from contract.topics import PROVIDER_AVAILABILITY, dead_letter_topic
from devstack.cli import app
from eventing.parked import REPLAYED_FROM_HEADER, ParkedRecord
from eventing.redrive import Redrive
from tests.e2e.conftest import Saga, extra_care_plan
from tests.integration.care_plan.support import eventually
from tests.support.kafka import read_to_end

pytestmark = pytest.mark.e2e

DLT = dead_letter_topic(PROVIDER_AVAILABILITY)
GROUP = "care-plan-redrive"


def _dlt(saga: Saga, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        ["dlt", *args],
        env={"KAFKA_BOOTSTRAP_SERVERS": saga.settings.bootstrap_servers, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_parked_availability_is_replayed_after_the_fix_and_projected_once(
    saga: Saga,
) -> None:
    async with extra_care_plan(
        saga, GROUP, port=8085, environment={"CONSUMER_RETRY_ATTEMPTS": "2"}
    ) as care_plan:
        dsn = care_plan.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        database = await asyncpg.connect(dsn)
        try:
            provider = await saga.provider(speciality=f"Redrive-{uuid.uuid4().hex[:6]}")
            # The cause: the read model refuses this provider's slots, as a broken constraint
            # or a half-applied migration would.
            await database.execute(f"""
                create function care_plan.refuse_slot() returns trigger language plpgsql as $$
                begin raise exception 'read model refuses provider %', new.provider_id; end $$;
                create trigger refuse_slot before insert on care_plan.slots for each row
                when (new.provider_id = '{provider["id"]}') execute function care_plan.refuse_slot();
            """)
            availability = await saga.slot(provider)  # projected by the session's Care Plan
            redrive = Redrive({"bootstrap.servers": saga.settings.bootstrap_servers})

            async def parked() -> ParkedRecord | None:
                records = await asyncio.to_thread(redrive.parked, DLT)
                mine = [
                    r
                    for r in records
                    if r.key == availability["id"].encode()
                    and r.header("dlt-consumer-group") == f"{GROUP}.availability-projector"
                ]
                return mine[0] if mine else None

            record = await eventually(parked, timeout=60, interval=0.5, what="the event parked")
            assert record.reason == "retries-exhausted"
            # The header names the database error by its class and SQLSTATE, never by its text,
            # which may quote a patient's data (eventing.redaction).
            assert record.error == "RaiseError: (sqlstate=P0001)"
            assert not await saga.searchable(availability["id"], provider["id"], care_plan.client)

            await database.execute("drop trigger refuse_slot on care_plan.slots")  # the fix
            where = [
                "--partition", str(record.partition),
                "--from-offset", str(record.offset),
                "--to-offset", str(record.offset),
            ]  # fmt: skip
            first = await asyncio.to_thread(_dlt, saga, "replay", DLT, *where)
            second = await asyncio.to_thread(_dlt, saga, "replay", DLT, *where)
            assert "Replayed 1 record(s)" in first
            assert "Replayed 0 record(s)" in second

            await eventually(
                lambda: saga.searchable(availability["id"], provider["id"], care_plan.client),
                timeout=30,
                what="the replayed slot searchable",
            )
            slots = await database.fetchval(
                "select count(*) from care_plan.slots where id = $1", uuid.UUID(availability["id"])
            )
            applied = await database.fetchval(
                "select count(*) from care_plan.inbox where event_id = $1", record.event_id
            )
            assert (slots, applied) == (1, 1)
            on_topic = await asyncio.to_thread(read_to_end, saga.settings, PROVIDER_AVAILABILITY)
            replays = [
                m
                for m in on_topic
                if dict(m.headers() or []).get(REPLAYED_FROM_HEADER) == record.ref.encode()
            ]
            assert len(replays) == 1
            assert replays[0].partition() == record.original_partition
            assert replays[0].value() == record.value
        finally:
            await database.close()
