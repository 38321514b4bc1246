"""The processor as `careplan up` runs it (``python -m insurance_processor``) against the real
broker: covered bookings forwarded once, the rest not, malformed records parked while the
records behind them are processed, and exactly-once state that survives a restart."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from contract.topics import dead_letter_topic
from devstack.settings import DevstackSettings
from insurance_processor.transforms import insured_event_id
from tests.support.kafka import (
    read_to_end,
    unique_topic,
    wait_until_committed_to_end,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
VALID = {"payer": "Acme Health", "memberId": "M-1", "plan": "Gold", "validUntil": "2030-12-31"}
EXPIRED = {**VALID, "validUntil": "2020-01-31"}


@dataclass(frozen=True)
class Booking:
    id: str
    payment_mode: str = "INSURANCE_PAY"
    insurance: dict[str, str] | None = None

    def data(self, status: str = "CONFIRMED") -> dict[str, Any]:
        patient: dict[str, Any] = {
            "id": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
            "firstName": "Zoë",
            "lastName": "Doe",
            "gender": "FEMALE",
            "dateOfBirth": "1991-08-06",
            "insurance": self.insurance,
        }
        return {
            "booking": {
                "id": self.id,
                "providerAvailabilityId": str(uuid.uuid4()),
                "patientId": patient["id"],
                "status": status,
                "paymentMode": self.payment_mode,
            },
            "patient": patient,
            "encounterType": "ONSITE",
            "slot": {
                "fromDate": "2026-12-01T09:00:00+00:00",
                "toDate": "2026-12-01T09:30:00+00:00",
                "providerId": str(uuid.uuid4()),
                "speciality": "Dentist",
            },
        }


def new_booking(
    payment_mode: str = "INSURANCE_PAY", insurance: dict[str, str] | None = None
) -> Booking:
    return Booking(str(uuid.uuid4()), payment_mode, insurance)


class Input:
    """Produces booking events (binary mode unless told) to the processor's input topic."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap_servers})

    def event(
        self, booking: Booking, event_type: str = "BOOKING_CONFIRMED", *, ce_id: str | None = None
    ) -> str:
        ce_id = ce_id or str(uuid.uuid4())
        status = "CONFIRMED" if event_type == "BOOKING_CONFIRMED" else "CANCELLED_BY_PATIENT"
        self._producer.produce(
            self.topic,
            key=booking.id.encode(),
            value=json.dumps(booking.data(status)).encode(),
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", ce_id.encode()),
                ("ce_source", b"/care-plan"),
                ("ce_type", event_type.encode()),
                ("content-type", b"application/json"),
            ],
        )
        return ce_id

    def structured(self, booking: Booking) -> str:
        ce_id = str(uuid.uuid4())
        envelope = {
            "specversion": "1.0",
            "id": ce_id,
            "source": "/care-plan",
            "type": "BOOKING_CONFIRMED",
            "data": booking.data(),
        }
        self._producer.produce(
            self.topic,
            key=booking.id.encode(),
            value=json.dumps(envelope).encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
        return ce_id

    def raw(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self._producer.produce(self.topic, key=key, value=value, headers=headers)

    def flush(self) -> None:
        assert self._producer.flush(10) == 0


class Processor:
    """``python -m insurance_processor`` with the environment the launcher gives it."""

    def __init__(self, environment: dict[str, str], log: Path) -> None:
        self.port = int(environment["HTTP_PORT"])
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "insurance_processor"],
            cwd=REPO,
            env={**os.environ, **environment},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the processor exited before it was ready"
            with contextlib.suppress(httpx.HTTPError):
                if self.get("/health/ready").status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError("the processor never reported ready")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@dataclass
class Setup:
    input: Input
    output_topic: str
    environment: dict[str, str]
    state_dir: Path
    log: Path


@pytest.fixture
def setup(infrastructure: DevstackSettings, tmp_path: Path) -> Setup:
    input_topic = unique_topic(infrastructure, "insurance-bookings", partitions=1)
    output_topic = unique_topic(infrastructure, "insurance-insured")
    state_dir = tmp_path / "state"
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
        "INPUT_TOPIC": input_topic,
        "OUTPUT_TOPIC": output_topic,
        "CONSUMER_GROUP": f"insurance-processor-{uuid.uuid4().hex[:8]}",
        "STATE_DIR": str(state_dir),
        "HTTP_PORT": str(_free_port()),
        "COMMIT_INTERVAL_SECONDS": "0.3",
        "LOG_LEVEL": "INFO",
    }
    return Setup(
        Input(infrastructure.bootstrap_servers, input_topic),
        output_topic,
        environment,
        state_dir,
        tmp_path / "processor.log",
    )


@pytest.fixture
def start(setup: Setup) -> Iterator[Callable[[], Processor]]:
    started: list[Processor] = []

    def start_processor() -> Processor:
        processor = Processor(setup.environment, setup.log)
        started.append(processor)
        processor.wait_ready()
        return processor

    try:
        yield start_processor
    finally:
        for processor in started:
            processor.kill()
        if setup.log.exists():
            sys.stdout.write(setup.log.read_text(errors="replace")[-20_000:])


def headers_of(message: Message) -> dict[str, bytes]:
    return dict(message.headers() or [])


def test_covered_bookings_are_forwarded_once_and_malformed_records_parked(
    infrastructure: DevstackSettings, setup: Setup, start: Callable[[], Processor]
) -> None:
    covered, self_pay, expired, uninsured, structured_covered = (
        new_booking(insurance=VALID),
        new_booking("SELF_PAY", VALID),
        new_booking(insurance=EXPIRED),
        new_booking(insurance=None),
        new_booking(insurance=VALID),
    )
    processor = start()
    confirmed_id = setup.input.event(covered)
    setup.input.event(self_pay)
    setup.input.event(covered, ce_id=confirmed_id)  # the same event, re-published
    setup.input.event(expired)
    setup.input.event(uninsured)
    setup.input.raw(b"poison", b"{not json", [("x-origin", b"fuzzer")])
    # Behind the malformed record on the same (single) partition:
    structured_id = setup.input.structured(structured_covered)
    cancelled_id = setup.input.event(covered, "BOOKING_CANCELLED")
    setup.input.event(self_pay, "BOOKING_CANCELLED")
    setup.input.flush()

    # Every input processed (its offsets committed with the outputs, exactly-once): then the
    # outputs are all there, and a duplicate would be too.
    wait_until_committed_to_end(infrastructure, _group(setup), setup.input.topic)
    forwarded = read_to_end(infrastructure, setup.output_topic)
    parked = read_to_end(infrastructure, dead_letter_topic(setup.input.topic))

    assert processor.process.poll() is None, "the processor stopped"
    assert sorted(
        (
            message.key().decode(),
            headers_of(message)["ce_type"].decode(),
            headers_of(message)["ce_id"].decode(),
        )
        for message in forwarded
    ) == sorted(
        [
            (covered.id, "BOOKING_CONFIRMED", insured_event_id(confirmed_id)),
            (structured_covered.id, "BOOKING_CONFIRMED", insured_event_id(structured_id)),
            (covered.id, "BOOKING_CANCELLED", insured_event_id(cancelled_id)),
        ]
    )
    for message in forwarded:
        headers = headers_of(message)
        assert headers["ce_source"] == b"/insurance-processor"
        assert headers["ce_specversion"] == b"1.0"
        assert headers["content-type"] == b"application/json"
        value = json.loads(message.value())
        assert value["coverage"] == {
            "covered": True,
            "payer": "Acme Health",
            "memberId": "M-1",
            "reason": "INSURANCE_PAY; plan Gold valid until 2030-12-31, slot on 2026-12-01",
        }
        assert value["booking"]["id"] == message.key().decode()

    assert len(parked) == 1
    poison = parked[0]
    why = headers_of(poison)
    assert (poison.key(), poison.value()) == (b"poison", b"{not json")
    assert why["x-origin"] == b"fuzzer"
    assert why["dlt-reason"] == b"malformed"
    assert why["dlt-exception"] == b"MalformedEventError"
    assert b"not JSON" in why["dlt-exception-message"]
    assert why["dlt-original-topic"] == setup.input.topic.encode()
    assert why["dlt-original-partition"] == b"0"
    assert why["dlt-original-offset"] == b"5"

    counted = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(processor.get("/metrics").text)
        for sample in family.samples
        if sample.name == "insurance_processor_records_total" and not sample.labels["reason"]
    }
    assert (counted["insured"], counted["duplicate"], counted["not_insured"]) == (3, 1, 4)
    assert processor.terminate() == 0


def test_restart_with_lost_local_state_neither_repeats_nor_re_emits(
    infrastructure: DevstackSettings, setup: Setup, start: Callable[[], Processor]
) -> None:
    before, after = new_booking(insurance=VALID), new_booking(insurance=VALID)
    first = start()
    before_id = setup.input.event(before)
    setup.input.flush()
    wait_until_committed_to_end(infrastructure, _group(setup), setup.input.topic)
    assert len(read_to_end(infrastructure, setup.output_topic)) == 1
    assert first.terminate() == 0

    # The dedup state must come back from its changelog topic, not from the local folder.
    shutil.rmtree(setup.state_dir)
    start()
    setup.input.event(before, ce_id=before_id)  # re-published after the restart
    setup.input.event(before)  # the same transition under a new id
    after_id = setup.input.event(after)
    setup.input.flush()

    wait_until_committed_to_end(infrastructure, _group(setup), setup.input.topic)
    forwarded = read_to_end(infrastructure, setup.output_topic)

    assert sorted(headers_of(m)["ce_id"].decode() for m in forwarded) == sorted(
        [insured_event_id(before_id), insured_event_id(after_id)]
    )


def _group(setup: Setup) -> str:
    return setup.environment["CONSUMER_GROUP"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _visible(settings: DevstackSettings, topic: str, isolation: str) -> int:
    """How many records of ``topic`` a consumer with this isolation level sees now."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0,
                         "group.id": f"peek-{uuid.uuid4().hex}", "isolation.level": isolation,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        seen, quiet_until = 0, time.monotonic() + 2.0
        while time.monotonic() < quiet_until:
            batch = [m for m in consumer.consume(100, 0.2) if not m.error()]
            seen += len(batch)
        return seen
    finally:
        consumer.close()


def test_sigkill_inside_its_transaction_neither_loses_nor_repeats_an_insured_event(
    infrastructure: DevstackSettings, setup: Setup, start: Callable[[], Processor]
) -> None:
    # A long commit interval keeps the first transaction open long enough to kill inside it.
    setup.environment["COMMIT_INTERVAL_SECONDS"] = "60"
    inside = start()
    ids = [setup.input.event(new_booking(insurance=VALID)) for _ in range(5)]
    setup.input.flush()
    deadline = time.monotonic() + 60
    while _visible(infrastructure, setup.output_topic, "read_uncommitted") < len(ids):
        assert time.monotonic() < deadline, "the insured events were never written"
    # Written, not committed: the process is inside its transaction.
    assert _visible(infrastructure, setup.output_topic, "read_committed") == 0
    inside.kill()

    setup.environment["COMMIT_INTERVAL_SECONDS"] = "0.3"
    start()
    wait_until_committed_to_end(infrastructure, _group(setup), setup.input.topic)
    forwarded = read_to_end(infrastructure, setup.output_topic)
    assert sorted(headers_of(m)["ce_id"].decode() for m in forwarded) == sorted(
        insured_event_id(i) for i in ids
    ), "each insured event exactly once for read_committed consumers"
