"""Throughput of the Insurance Processor with exactly-once on, against a running broker.

    uv run python bench/insurance_processor.py --bootstrap-servers 127.0.0.1:49092

It starts nothing: point it at a broker (`careplan up --only kafka`; without an address, the
broker of the platform the ``CAREPLAN_*`` variables name). It creates fresh topics
(input, insured output, input DLT), produces N booking events in binary mode, then runs the
processor in this process until every input record is processed, and prints records/s:
"steady" counts from the first processed record to the last (the processing itself), "wall"
from the start of the application (connecting, rebalancing and state setup included).

The input mixes, per ten records: five covered confirmations, one cancellation of a covered
booking, one confirmation with expired insurance, one without insurance, two SELF_PAY.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# insurance_processor package it measures.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from contract.sources import CARE_PLAN
from contract.topics import dead_letter_topic
from devstack.settings import DevstackSettings
from eventing.settings import KafkaSettings
from insurance_processor.app import build_application
from insurance_processor.metrics import ProcessorMetrics
from insurance_processor.settings import ProcessorSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DevstackSettings().bootstrap_servers,
        help="the broker to use (default: $KAFKA_BOOTSTRAP_SERVERS, or the local platform's)",
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write a cProfile of the processing run to this file and print its top entries",
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="leave the run's topics on the broker"
    )
    arguments = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    input_topic = f"bench.bookings.{run_id}"
    output_topic = f"bench.bookings.insured.{run_id}"
    create_topics(
        arguments.bootstrap_servers,
        [input_topic, output_topic, dead_letter_topic(input_topic)],
        arguments.partitions,
    )
    started = time.perf_counter()
    expected_covered = produce(arguments.bootstrap_servers, input_topic, arguments.records)
    produced_in = time.perf_counter() - started
    print(
        f"produced {arguments.records} records to {input_topic} "
        f"({arguments.partitions} partitions) in {produced_in:.1f} s"
    )

    with tempfile.TemporaryDirectory(prefix="insurance-processor-bench-") as state_dir:
        settings = ProcessorSettings(
            kafka=KafkaSettings(bootstrap_servers=arguments.bootstrap_servers),
            consumer_group=f"bench-insurance-processor-{run_id}",
            input_topic=input_topic,
            output_topic=output_topic,
            state_dir=Path(state_dir),
            log_level="WARNING",
        )
        try:
            result = run_processor(settings, arguments.records, arguments.profile)
        finally:
            if not arguments.keep_topics:
                delete_topics(arguments.bootstrap_servers, run_id)

    metrics = result.metrics
    steady = arguments.records / (result.last - result.first)
    wall = arguments.records / (result.last - result.started)
    print(
        f"processed {arguments.records} records, exactly-once, "
        f"commit interval {settings.commit_interval_seconds} s"
    )
    print(f"  steady: {steady:,.0f} records/s ({result.last - result.first:.2f} s)")
    print(f"  wall:   {wall:,.0f} records/s ({result.last - result.started:.2f} s incl. startup)")
    cpu = result.last_cpu - result.first_cpu
    loop_cpu = result.last_loop_cpu - result.first_loop_cpu
    print(
        f"  cpu:    {cpu / arguments.records * 1e6:.0f} us per record in this process, "
        f"{loop_cpu / arguments.records * 1e6:.0f} us of it in the processing loop's thread "
        f"(a bound of {arguments.records / loop_cpu:,.0f} records/s on a free core)"
    )
    print(
        f"  covered fraction: {metrics.insured / arguments.records:.3f} "
        f"({metrics.insured} insured, expected {expected_covered}; "
        f"{metrics.not_insured} not insured, {metrics.duplicates} duplicates, "
        f"{sum(metrics.dead_lettered.values())} dead-lettered)"
    )
    if metrics.insured != expected_covered:
        raise SystemExit("the processor did not insure the expected number of bookings")


def create_topics(bootstrap_servers: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
    )
    for future in futures.values():
        future.result()


def delete_topics(bootstrap_servers: str, run_id: str) -> None:
    """The run's topics, and the changelog topic Quix created for its consumer group."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    names = [name for name in admin.list_topics(timeout=10).topics if run_id in name]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()


def produce(bootstrap_servers: str, topic: str, count: int) -> int:
    """Produce ``count`` booking events; returns how many of them the processor must insure."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "linger.ms": 20,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            "enable.idempotence": True,
        }
    )
    covered = 0
    last_covered_booking: dict[str, object] | None = None
    for index in range(count):
        kind = index % 10
        event_type = "BOOKING_CONFIRMED"
        if kind == 5 and last_covered_booking is not None:
            data = cancelled(last_covered_booking)
            event_type = "BOOKING_CANCELLED"
        else:
            data = booking(kind)
        if kind <= 5:
            covered += 1
        if kind < 5:
            last_covered_booking = data
        booking_id = str(data["booking"]["id"])  # type: ignore[index]
        headers = [
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_source", CARE_PLAN.encode()),
            ("ce_type", event_type.encode()),
            ("ce_specversion", b"1.0"),
            ("content-type", b"application/json"),
        ]
        value = json.dumps(data, separators=(",", ":")).encode()
        while True:
            try:
                producer.produce(topic, key=booking_id.encode(), value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        if index % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60) != 0:
        raise KafkaException("not every bench record was delivered")
    return covered


def booking(kind: int) -> dict[str, object]:
    insurance: dict[str, str] | None = {
        "payer": "Acme Health",
        "memberId": f"M-{uuid.uuid4().hex[:10]}",
        "plan": "Gold",
        "validUntil": "2030-12-31" if kind != 6 else "2020-01-31",
    }
    if kind == 7:
        insurance = None
    return {
        "booking": {
            "id": str(uuid.uuid4()),
            "providerAvailabilityId": str(uuid.uuid4()),
            "patientId": str(uuid.uuid4()),
            "status": "CONFIRMED",
            "paymentMode": "SELF_PAY" if kind >= 8 else "INSURANCE_PAY",
        },
        "patient": {
            "id": str(uuid.uuid4()),
            "firstName": "Ada",
            "lastName": "Lovelace",
            "gender": "FEMALE",
            "dateOfBirth": "1991-08-06",
            "insurance": insurance,
        },
        "encounterType": "ONSITE" if kind % 2 else "VIRTUAL",
        "slot": {
            "fromDate": "2026-12-01T09:00:00+00:00",
            "toDate": "2026-12-01T09:30:00+00:00",
            "providerId": str(uuid.uuid4()),
            "speciality": "Dentist",
        },
    }


def cancelled(confirmed: dict[str, object]) -> dict[str, object]:
    booking_data = {**confirmed["booking"], "status": "CANCELLED_BY_PATIENT"}  # type: ignore[dict-item]
    return {**confirmed, "booking": booking_data}


class RunResult:
    def __init__(self, metrics: ProcessorMetrics) -> None:
        self.metrics = metrics
        self.started = 0.0
        self.first = 0.0
        self.last = 0.0
        # CPU time of this process (the processing loop and librdkafka's threads): a figure
        # that other load on the machine does not distort, unlike wall time.
        self.first_cpu = 0.0
        self.last_cpu = 0.0
        # The processing loop's own thread: the one that bounds throughput.
        self.first_loop_cpu = 0.0
        self.last_loop_cpu = 0.0


def run_processor(settings: ProcessorSettings, records: int, profile: Path | None) -> RunResult:
    metrics = ProcessorMetrics()
    result = RunResult(metrics)
    processed = 0

    def on_processed(_topic: str, _partition: int, _offset: int) -> None:
        nonlocal processed
        processed += 1
        if processed == 1:
            result.first = time.perf_counter()
            result.first_cpu = time.process_time()
            result.first_loop_cpu = time.thread_time()
        if processed == records:
            result.last = time.perf_counter()
            result.last_cpu = time.process_time()
            result.last_loop_cpu = time.thread_time()
            app.stop()

    app = build_application(settings, metrics=metrics, on_message_processed=on_processed)
    profiler = cProfile.Profile() if profile is not None else None
    result.started = time.perf_counter()
    if profiler is not None:
        profiler.runcall(app.run)
    else:
        app.run()
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    return result


if __name__ == "__main__":
    main()
