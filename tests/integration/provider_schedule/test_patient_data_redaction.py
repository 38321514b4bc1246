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
            "providerAvailabilityId": FIRST_NAME,
            "patientId": LAST_NAME,
            "status": DATE_OF_BIRTH,
            "paymentMode": MEMBER_ID,
        },
        key=key,
    )
    record = to_record(request)
    producer = Producer({"bootstrap.servers": infrastructure.bootstrap_servers, "log_level": 0})
    with service_log_lines() as logs:
        producer.produce(topic, key=key.encode(), value=record.value, headers=record.headers)
        producer.produce(
            topic, key=key.encode(), value=json.dumps(planted_patient(key))[:-2].encode()
        )
        assert producer.flush(10) == 0
        parked = await parked_records(
            infrastructure, [dead_letter_topic(topic)], key=key.encode(), count=2
        )
    lines = logs.getvalue().splitlines()

    assert len(parked) == 2, "\n".join(lines)
    assert leaked_values(lines) == []
    assert leaked_values(value for m in parked for value in header_texts(m.headers() or [])) == []
