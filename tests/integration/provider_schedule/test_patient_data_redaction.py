"""Patient data stays out of Provider Schedule's logs and dead-letter headers: booking requests
that break the contract on planted values, and a record that is no CloudEvent, are parked by
the booking responder without repeating them."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Producer

from contract import sources
from contract.topics import dead_letter_topic
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, to_record
from tests.integration.provider_schedule.conftest import ScheduleApp
from tests.support import patient_data as planted

pytestmark = pytest.mark.integration


async def test_no_planted_patient_value_reaches_a_log_line_or_a_dead_letter_header(
    schedule_app: ScheduleApp, infrastructure: DevstackSettings
) -> None:
    topic = schedule_app.settings.booking_requests_topic
    key = f"redaction-{uuid.uuid4().hex[:8]}"
    request = Event.new(
        source=sources.CARE_PLAN,
        type="BOOKING_CREATION_REQUEST",
        data={
            "id": str(uuid.uuid4()),
            "providerAvailabilityId": planted.FIRST_NAME,
            "patientId": planted.LAST_NAME,
            "status": planted.DATE_OF_BIRTH,
            "paymentMode": planted.MEMBER_ID,
        },
        key=key,
    )
    record = to_record(request)
    producer = Producer({"bootstrap.servers": infrastructure.bootstrap_servers, "log_level": 0})
    with planted.service_log_lines() as logs:
        producer.produce(topic, key=key.encode(), value=record.value, headers=record.headers)
        producer.produce(
            topic, key=key.encode(), value=json.dumps(planted.planted_patient(key))[:-2].encode()
        )
        assert producer.flush(10) == 0
        parked = await planted.parked_records(
            infrastructure, [dead_letter_topic(topic)], key=key.encode(), count=2
        )
    lines = logs.getvalue().splitlines()

    assert len(parked) == 2, "\n".join(lines)
    assert planted.leaked_values(lines) == []
    assert (
        planted.leaked_values(
            value for m in parked for value in planted.header_texts(m.headers() or [])
        )
        == []
    )
