"""Patient data stays out of Care Plan's logs and dead-letter headers, whatever goes wrong:
malformed events on each topic it consumes, invalid request bodies, and a database that refuses
a patient update (its error repeats the row)."""

from __future__ import annotations

import json
import uuid

import pytest
from asyncpg.exceptions import CheckViolationError
from sqlalchemy import text

from contract import sources
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event
from tests.integration.care_plan.conftest import PrivateTopics, Service
from tests.integration.care_plan.support import FakeProvider
from tests.support.patient_data import (
    DATE_OF_BIRTH,
    FIRST_NAME,
    LAST_NAME,
    MEMBER_ID,
    header_texts,
    leaked_values,
    parked_records,
    planted_patient,
    service_log_lines,
)

pytestmark = pytest.mark.integration

# Refuses the planted name: the update fails in the database, with the row in its DETAIL.
GUARD = (
    "ALTER TABLE care_plan.patients ADD CONSTRAINT planted_name_guard "
    f"CHECK (last_name <> '{LAST_NAME}') NOT VALID"
)


async def test_no_planted_patient_value_reaches_a_log_line_or_a_dead_letter_header(
    service: Service,
    provider: FakeProvider,
    private_topics: PrivateTopics,
    infrastructure: DevstackSettings,
) -> None:
    key = f"redaction-{uuid.uuid4().hex[:8]}"
    with service_log_lines() as logs:
        # Malformed events, one per topic the service consumes, each failing on a patient value.
        provider.publish(
            private_topics.availability,
            Event.new(
                source=sources.PROVIDER_SCHEDULE,
                type="AVAILABILITY_CREATED",
                data={
                    "id": str(uuid.uuid4()),
                    "provider": planted_patient("not-a-uuid"),
                    "availability": {"id": str(uuid.uuid4()), "fromDate": DATE_OF_BIRTH},
                },
                key=key,
            ),
        )
        provider.publish(
            private_topics.replies,
            Event.new(
                source=sources.PROVIDER_SCHEDULE,
                type="BOOKING_REQUEST_CONFIRMED",
                data={"bookingId": MEMBER_ID, "availabilityId": FIRST_NAME, "reason": LAST_NAME},
                key=key,
            ),
        )
        # Not a CloudEvent at all (no ce_ headers, not a structured event).
        provider.publish_raw(
            private_topics.availability,
            key=key.encode(),
            value=json.dumps(planted_patient(key))[:-3].encode(),
            headers=[],
        )

        # Invalid bodies: answered 422 without the values.
        invalid = await service.client.post("/patients", json=planted_patient(key))
        assert invalid.status_code == 422
        not_a_patient = await service.client.post("/patients", content=f'{{"x": "{FIRST_NAME}')
        assert not_a_patient.status_code == 422

        # The database refuses an update (a check it reports with the failing row).
        created = await service.client.post(
            "/patients",
            json=planted_patient(
                key, firstName="Ada", lastName="Lovelace", dateOfBirth="1977-02-28"
            ),
        )
        assert created.status_code == 201, created.text
        async with service.sessions() as session:
            await session.execute(text(GUARD))
            await session.commit()
        try:
            # The error handler answers 500 and Starlette re-raises for the server's sake; the
            # in-process transport hands that exception to the caller instead of the 500.
            with pytest.raises(CheckViolationError):
                await service.client.put(
                    f"/patients/{created.json()['id']}",
                    json=planted_patient(key, dateOfBirth="1977-02-28"),
                )
        finally:
            async with service.sessions() as session:
                await session.execute(
                    text("ALTER TABLE care_plan.patients DROP CONSTRAINT planted_name_guard")
                )
                await session.commit()

        parked = await parked_records(
            infrastructure,
            [f"{private_topics.availability}.dlt", f"{private_topics.replies}.dlt"],
            key=key.encode(),
            count=3,
        )

    lines = logs.getvalue().splitlines()
    # The error paths ran: three records parked, the refused update logged with its trace.
    assert len(parked) == 3, "\n".join(lines)
    assert sum('"malformed record parked"' in line for line in lines) >= 1
    assert sum('"permanent failure, record parked"' in line for line in lines) >= 2
    assert any('"unhandled error"' in line and "CheckViolationError" in line for line in lines)
    assert leaked_values(lines) == []
    assert leaked_values(text for m in parked for text in header_texts(m.headers() or [])) == []
    assert leaked_values([invalid.text, not_a_patient.text]) == []
