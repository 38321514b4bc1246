"""The local serverless tail under a steady booking load: does it keep up, and how far behind is it?

    careplan up --only eventbridge-sink --only clinic-operations --only patient-notifications
    uv run python bench/serverless_tail.py --rate 26 --seconds 300 --drain-timeout 60

It plays the core path's output without running the core path (which would take the CPU the
tail needs on a small machine): ``--rate`` confirmed bookings per second go to
``careplan.bookings``, half of them on-site, and the covered half also to
``careplan.bookings.insured``, as the Insurance Processor writes them. Every 5 s it samples the
sink's consumer group lag, every queue's depth (visible + in flight) and moto's CPU; after the
load it waits until the lag and the queues are back to 0 and reports how long that took.

Sustainable means: the lag at the end of the load is within a few seconds of records and the
queues stay short. Run it at a few rates to find the tail's ceiling. It exits 1 if the lag and
the queues are not back to 0 within ``--drain-timeout`` seconds of the load's end.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from contract import sources, topics
from contract.events import (
    BookingEvent,
    BookingSnapshot,
    BookingStatus,
    CoverageDecision,
    EncounterType,
    EventType,
    Insurance,
    InsuredBookingEvent,
    PatientSnapshot,
    PaymentMode,
    Slot,
)
from devstack.backlog import consumer_lags, queue_depths
from devstack.moto import aws_client
from devstack.processes import ProcessFiles, running_process
from devstack.settings import DevstackSettings
from eventing.cloudevents import binary_headers

SINK_GROUP = "eventbridge-sink"
SAMPLE_SECONDS = 5.0


def booking(index: int) -> tuple[BookingEvent, InsuredBookingEvent | None]:
    patient_id = uuid.uuid4()
    insured = index % 2 == 0
    start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=30 * index)
    event = BookingEvent(
        booking=BookingSnapshot(
            id=uuid.uuid4(),
            provider_availability_id=uuid.uuid4(),
            patient_id=patient_id,
            status=BookingStatus.CONFIRMED,
            payment_mode=PaymentMode.INSURANCE_PAY if insured else PaymentMode.SELF_PAY,
        ),
        patient=PatientSnapshot(
            id=patient_id,
            first_name="Ada",
            last_name="Lovelace",
            gender="FEMALE",
            date_of_birth=date(1991, 8, 6),
            insurance=Insurance(
                payer="Acme Health", member_id="M-1", plan="GOLD", valid_until=date(2035, 12, 31)
            ),
        ),
        encounter_type=EncounterType.ONSITE if index % 4 < 2 else EncounterType.VIRTUAL,
        slot=Slot(
            from_date=start,
            to_date=start + timedelta(minutes=30),
            provider_id=uuid.uuid4(),
            speciality="Dentist",
        ),
    )
    if not insured:
        return event, None
    coverage = CoverageDecision(payer="Acme Health", member_id="M-1", reason="valid on the date")
    return event, InsuredBookingEvent.model_validate({**event.model_dump(), "coverage": coverage})


class Sampler:
    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings
        self.sqs: Any = aws_client(settings, "sqs")
        self.moto = running_process(ProcessFiles.under(settings.state_dir, "moto"))

    def moto_cpu(self) -> float:
        if self.moto is None:
            return float("nan")
        times = self.moto.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> dict[str, Any]:
        (sink,) = consumer_lags(self.settings.bootstrap_servers, groups=[SINK_GROUP])
        depths = {d.name: d.total for d in queue_depths(self.sqs)}
        return {"at": time.monotonic(), "lag": sink.lag, "queues": depths, "moto": self.moto_cpu()}


def line(sample: dict[str, Any], began: float) -> str:
    queues = " ".join(
        f"{name.removesuffix('-care-plan-events-queue')}={depth}"
        for name, depth in sorted(sample["queues"].items())
        if depth or not name.endswith("dlq")
    )
    return f"t={sample['at'] - began:6.1f}s  sink lag={sample['lag']:6d}  {queues}"


def run(settings: DevstackSettings, rate: float, seconds: float, drain_timeout: float) -> bool:
    """Plays the load and reports; True if the tail drained within ``drain_timeout``."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5})
    sampler = Sampler(settings)
    samples = [sampler.sample()]
    began = samples[0]["at"]
    print(line(samples[0], began), flush=True)
    total = int(rate * seconds)
    records = 0
    next_sample = began + SAMPLE_SECONDS
    for index in range(total):
        due = began + index / rate
        while (now := time.monotonic()) < due:
            time.sleep(min(due - now, 0.05))
        event, insured = booking(index)
        key = str(event.booking.id).encode()
        # Binary-mode CloudEvents with the contract's headers, as Care Plan's relay and the
        # Insurance Processor write them: the sink parks anything else, and the run's records
        # stay on the topics other readers (the contract audit) check.
        subject = str(event.booking.id)
        confirmed = EventType.BOOKING_CONFIRMED.value
        producer.produce(
            topics.CAREPLAN_BOOKINGS,
            json.dumps(event.to_json_dict()).encode(),
            key,
            headers=binary_headers(id=str(uuid.uuid4()), source=sources.CARE_PLAN,
                                   type=confirmed, time=None, subject=subject, traceparent=None),
        )  # fmt: skip
        records += 1
        if insured is not None:
            value = insured.model_dump_json(by_alias=True).encode()
            headers = binary_headers(id=str(uuid.uuid4()), source=sources.INSURANCE_PROCESSOR,
                                     type=confirmed, time=None, subject=subject, traceparent=None)  # fmt: skip
            producer.produce(topics.CAREPLAN_BOOKINGS_INSURED, value, key, headers=headers)
            records += 1
        producer.poll(0)
        if time.monotonic() >= next_sample:
            samples.append(sampler.sample())
            print(line(samples[-1], began), flush=True)
            next_sample += SAMPLE_SECONDS
    producer.flush(30)
    load_end = sampler.sample()
    print(line(load_end, began), "<- load ends", flush=True)
    drained: dict[str, Any] | None = None
    while time.monotonic() - load_end["at"] < drain_timeout:
        time.sleep(2)
        current = sampler.sample()
        # Back to the lag before the load, not to 0: a topic written in Kafka transactions (the
        # Insurance Processor's) ends in a commit marker that a consumer never commits past, so
        # the group's lag there stays 1 a partition however caught up the sink is.
        if current["lag"] <= samples[0]["lag"] and not any(
            depth for name, depth in current["queues"].items() if not name.endswith("dlq")
        ):
            drained = current
            break
        if current["at"] - samples[-1]["at"] >= SAMPLE_SECONDS:
            samples.append(current)
            print(line(current, began), flush=True)
    load_seconds = load_end["at"] - began
    print()
    print(
        f"offered            {rate:.1f} bookings/s for {seconds:.0f} s = {records} records "
        f"({records / load_seconds:.1f} records/s on the two topics)"
    )
    print(f"sink lag at end    {load_end['lag']} records")
    print(f"max queue depth    {max(max(s['queues'].values(), default=0) for s in samples)}")
    print(f"moto CPU in load   {(load_end['moto'] - samples[0]['moto']) / load_seconds:.2f} cores")
    if drained is None:
        print(f"not drained within {drain_timeout:.0f} s after the load")
        return False
    drain_seconds = drained["at"] - load_end["at"]
    print(f"drained            {drain_seconds:.1f} s after the load (lag 0, queues empty)")
    tail_rate = records / (drained["at"] - began)
    print(
        f"tail throughput    {tail_rate:.1f} records/s = {tail_rate * total / records:.1f} "
        "bookings/s (all records over load + drain)"
    )
    if drain_seconds > 0:
        print(
            f"moto CPU in drain  {(drained['moto'] - load_end['moto']) / drain_seconds:.2f} cores"
        )
    return True


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=26.0, help="confirmed bookings per second")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    return parser.parse_args(argv)


def main() -> None:
    arguments = parse_arguments()
    drained = run(DevstackSettings(), arguments.rate, arguments.seconds, arguments.drain_timeout)
    # A script can tell a tail that fell behind (the issue asks for 0 within a minute).
    raise SystemExit(0 if drained else 1)


if __name__ == "__main__":
    main()
