"""End-to-end booking benchmark against the running platform (``make up`` first).

Measure a platform started from empty state, as ``make bench`` does (its own state folder,
removed first): one holding earlier runs' rows purges outbox history and autovacuums tables
of hundreds of MB in the middle of a phase, which cost 15-20 % more CPU per booking and moved
the figures by up to a quarter from one run to the next.

    uv run python bench/booking.py                       # rates 50 100 200 400 800, 20 s each
    uv run python bench/booking.py --rates 50 200 --seconds 10
    uv run python bench/booking.py --overload 64 --seconds 60   # closed loop, 64 connections
    uv run python bench/booking.py --rates 100 --sampling off 0.1 1   # tracing's cost

For each offered rate it creates one free slot per booking through Provider Schedule's API (32
concurrent clients; the slot-creation rate is printed too), waits until Care Plan lists them,
then offers ``POST /patients/{id}/bookings`` open loop: one request every 1/rate s whatever the
answers do. It then waits until no booking of the phase is WAITING_FOR_CONFIRMATION and reads
Care Plan's database: latency is ``created_at`` (set when the request was handled) to
``updated_at`` of the confirming transition, database times, not client polling.

CPU: every platform process (and its children) is read with psutil before and after each
phase; CPU per booking is that process's CPU seconds over the confirmed bookings. The load
generator's own CPU is ``getrusage`` of this process over the same window and is printed in
the same table, because it competes with what it measures on the same cores.

The serverless tail (sink -> moto -> Lambda runner) is not on the booking path; it is measured
apart (its own CPU is in the table; moto stands in for AWS, so its figure says nothing about
EventBridge). Stop the sink (``careplan down eventbridge-sink``) for the core path's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil
from http_load import Client, Request, Response, closed_loop, open_loop
from tracing_switch import ensure_otlp_endpoint, restart_with_sampling

from devstack.catalog import INFRASTRUCTURE, SERVICES
from devstack.processes import ProcessFiles, running_process
from devstack.replicas import PORT_STEP, replica_name
from devstack.settings import DevstackSettings
from eventing.settings import LOCAL_API_KEY, libpq_dsn

HEADERS = {"X-API-KEY": LOCAL_API_KEY}
# The services a booking goes through, each an asyncio event loop on its main thread.
BOOKING_SERVICES = ("care-plan", "provider-schedule")
SLOT_CLIENTS = 32
LATENCY_TARGET_P99_MS = 100.0
SETTLE_TIMEOUT_SECONDS = 120.0
# On a fresh platform the first phase's tail was the platform's first second (50/s: p50 14 ms,
# p99 904 ms); a few seconds of bookings first, not reported, take that.
WARMUP_RATE = 20.0
# What --start-on-stdin prints when a phase is ready to send.
READY = "ready to send"


@dataclass(frozen=True)
class PhaseResult:
    label: str
    offered: float
    seconds: float  # first request to last confirmation (database times)
    answered: dict[int, int]
    accepted: int
    confirmed: int
    expired: int
    waiting: int
    latencies_ms: list[float]
    cpu_seconds: dict[str, float]
    accepted_per_second: float
    # Of the machine's CPU time in the phase, the share its host gave to others (a VM's
    # steal): 20-44 % in some runs on 2026-12-03, against 0-6 % in others, and the booking
    # capacity moved with it (59-65 against 85-159 confirmed/s, same code).
    stolen_share: float
    # Each service's event loops (main threads, all replicas) while the requests were sent:
    # (seconds on a core, seconds runnable but waiting for one) per second of sending. A loop
    # near 100 % of the two together is what saturates (2026-12-04 at 400/s: Care Plan's
    # 60-65 % running and 31-36 % waiting, in every run, traced or not).
    loop_shares: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def confirmed_per_second(self) -> float:
        return self.confirmed / self.seconds

    def percentile(self, share: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class CpuMeter:
    """CPU seconds of each platform part (all its replicas, with their children) and of this
    generator."""

    def __init__(self, settings: DevstackSettings, replicas: int) -> None:
        self._processes: dict[str, list[psutil.Process]] = {}
        for component in (*INFRASTRUCTURE, *SERVICES):
            for index in range(replicas if component in SERVICES else 1):
                files = ProcessFiles.under(settings.state_dir, replica_name(component.name, index))
                process = running_process(files)
                if process is not None:
                    self._processes.setdefault(component.name, []).append(process)

    @staticmethod
    def stolen_seconds() -> float:
        """CPU seconds the host took from this machine since boot (all its cores)."""
        return float(getattr(psutil.cpu_times(), "steal", 0.0))  # only Linux reports it

    def loop_seconds(self) -> dict[str, tuple[float, float]]:
        """Per booking-path service, its replicas' main threads (the event loops): (seconds run, seconds
        waited runnable for a core), from Linux's schedstat; empty where there is none."""
        seconds: dict[str, tuple[float, float]] = {}
        for name in BOOKING_SERVICES:
            for process in self._processes.get(name, []):
                ran, waited = _main_thread_schedstat(process.pid)
                before = seconds.get(name, (0.0, 0.0))
                seconds[name] = (before[0] + ran, before[1] + waited)
        return seconds

    def sample(self) -> dict[str, float]:
        sample = {
            name: sum(_tree_cpu(process) for process in processes)
            for name, processes in self._processes.items()
        }
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sample["load generator"] = usage.ru_utime + usage.ru_stime
        return sample


def _main_thread_schedstat(pid: int) -> tuple[float, float]:
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        return int(fields[0]) / 1e9, int(fields[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


def _tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for member in [process, *_children(process)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


class Platform:
    def __init__(self, settings: DevstackSettings, replicas: int = 1) -> None:
        self.settings = settings
        self.replicas = replicas
        # Replica i of a service listens PORT_STEP * i above the first (devstack.replicas).
        self.provider_apis = [
            ("127.0.0.1", settings.provider_schedule_port + PORT_STEP * i) for i in range(replicas)
        ]
        self.care_plan_apis = [
            ("127.0.0.1", settings.care_plan_port + PORT_STEP * i) for i in range(replicas)
        ]
        self.provider_api, self.care_plan_api = self.provider_apis[0], self.care_plan_apis[0]
        self._spread = itertools.count()

    def provider_client(self) -> Client:
        return Client(*self.provider_apis[next(self._spread) % self.replicas])

    def care_plan_client(self) -> Client:
        return Client(*self.care_plan_apis[next(self._spread) % self.replicas])

    async def create_slots(self, count: int) -> tuple[list[str], float]:
        """``count`` free slots (one provider per 2,000), returns their ids and slots/s."""
        client = Client(*self.provider_api)
        providers = []
        for _ in range(count // 2000 + 1):
            response = await client.request(
                Request("POST", "/providers", _json(_provider()), HEADERS)
            )
            providers.append(_id(response))
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        bodies = (
            (providers[index // 2000], _slot(start + timedelta(minutes=15 * (index % 2000))))
            for index in range(count)
        )
        requests = (
            Request("POST", f"/providers/{provider}/availability", _json(body), HEADERS)
            for provider, body in bodies
        )
        began = time.monotonic()
        responses = await closed_loop(
            self.provider_client,
            iter(requests),
            connections=SLOT_CLIENTS,
            seconds=3600,
            retry_refused_after=1.0,  # Provider Schedule's Retry-After while it sheds
        )
        elapsed = time.monotonic() - began
        client.close()
        failed = [r.status for r in responses if r.status != 201]
        if failed:
            raise SystemExit(f"slot creation failed: {len(failed)} answers, e.g. {failed[:5]}")
        return [_id(response) for response in responses], count / elapsed

    async def create_patients(self, count: int) -> list[str]:
        client = Client(*self.care_plan_api)
        patients = []
        for index in range(count):
            body = {
                "firstName": "Bench",
                "lastName": f"Patient{index}",
                "gender": "FEMALE",
                "dateOfBirth": "1990-01-01",
            }
            patients.append(
                _id(await client.request(Request("POST", "/patients", _json(body), HEADERS)))
            )
        client.close()
        return patients


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _id(response: Response) -> str:
    if response.status != 201:
        raise SystemExit(f"setup request failed: {response.status} {response.body[:200]!r}")
    return str(json.loads(response.body)["id"])


def _provider() -> dict[str, str]:
    return {
        "firstName": "Bench",
        "lastName": uuid.uuid4().hex[:10],
        "speciality": "Cardiology",
        "gender": "FEMALE",
    }


def _slot(start: datetime) -> dict[str, str]:
    return {
        "fromDate": start.isoformat(),
        "toDate": (start + timedelta(minutes=15)).isoformat(),
        "encounterType": "VIRTUAL",
    }


class CarePlanDatabase:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def wait_listed(self, slot_ids: Sequence[str], timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        ids = [uuid.UUID(s) for s in slot_ids]
        while time.monotonic() < deadline:
            seen = await self._connection.fetchval(
                "select count(*) from care_plan.slots where id = any($1::uuid[])", ids
            )
            if seen == len(ids):
                return
            await asyncio.sleep(0.2)
        raise SystemExit(f"Care Plan did not list the {len(ids)} slots within {timeout} s")

    async def settle(self, booking_ids: Sequence[str]) -> list[asyncpg.Record]:
        """Wait until none of the bookings waits any more, then return their rows."""
        ids = [uuid.UUID(b) for b in booking_ids]
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        query = (
            "select status, extract(epoch from updated_at - created_at) * 1000 as ms,"
            " extract(epoch from created_at) as requested, extract(epoch from updated_at) as done"
            " from care_plan.bookings where id = any($1::uuid[])"
        )
        while True:
            rows = await self._connection.fetch(query, ids)
            waiting = sum(1 for row in rows if row["status"] == "WAITING_FOR_CONFIRMATION")
            if waiting == 0 or time.monotonic() > deadline:
                return list(rows)
            await asyncio.sleep(0.5)


def _booking_requests(patients: Sequence[str], slots: Sequence[str]) -> Iterator[Request]:
    for patient, slot in zip(itertools.cycle(patients), slots, strict=False):
        body = _json({"providerAvailabilityId": slot})
        headers = {**HEADERS, "Idempotency-Key": uuid.uuid4().hex}
        yield Request("POST", f"/patients/{patient}/bookings", body, headers)


async def run_phase(
    platform: Platform,
    database: CarePlanDatabase,
    patients: Sequence[str],
    *,
    rate: float | None,
    connections: int,
    seconds: float,
    ready: Callable[[], Awaitable[None]] | None = None,
) -> PhaseResult:
    # Closed loop: enough free slots for what the platform can take plus what it refuses.
    count = int(rate * seconds) if rate else int(seconds * 500)
    slots, slot_rate = await platform.create_slots(count)
    print(f"  {count} slots created at {slot_rate:,.0f}/s ({SLOT_CLIENTS} clients)", flush=True)
    await database.wait_listed(slots)
    if ready is not None:
        await ready()
    meter = CpuMeter(platform.settings, platform.replicas)
    before = meter.sample()
    stolen_before = meter.stolen_seconds()
    loops_before = meter.loop_seconds()
    began = time.monotonic()
    requests = _booking_requests(patients, slots)
    if rate:
        clients = [Client(*api) for api in platform.care_plan_apis]
        responses = await open_loop(clients, requests, rate=rate, seconds=seconds)
        for client in clients:
            client.close()
    else:
        responses = await closed_loop(
            platform.care_plan_client, requests, connections=connections, seconds=seconds
        )
    sent_for = time.monotonic() - began
    loops_after = meter.loop_seconds()
    loop_shares = {
        name: (
            (ran - loops_before[name][0]) / sent_for,
            (waited - loops_before[name][1]) / sent_for,
        )
        for name, (ran, waited) in loops_after.items()
    }
    answered: dict[int, int] = {}
    for response in responses:
        answered[response.status] = answered.get(response.status, 0) + 1
    accepted = [json.loads(r.body)["id"] for r in responses if r.status == 201]
    rows = await database.settle(accepted)
    window = time.monotonic() - began
    after = meter.sample()
    stolen = (meter.stolen_seconds() - stolen_before) / (window * (os.cpu_count() or 1))
    confirmed = [row for row in rows if row["status"] == "CONFIRMED"]
    if confirmed:
        window = float(max(r["done"] for r in confirmed) - min(r["requested"] for r in rows))
    return PhaseResult(
        label=f"{rate:g}/s" if rate else f"closed {connections}",
        offered=rate or len(responses) / sent_for,
        seconds=window,
        answered=answered,
        accepted=len(accepted),
        confirmed=len(confirmed),
        expired=sum(1 for row in rows if row["status"] == "EXPIRED"),
        waiting=sum(1 for row in rows if row["status"] == "WAITING_FOR_CONFIRMATION"),
        latencies_ms=[float(row["ms"]) for row in confirmed],
        cpu_seconds={name: after[name] - before[name] for name in before},
        accepted_per_second=len(accepted) / sent_for,
        stolen_share=stolen,
        loop_shares=loop_shares,
    )


def report(results: Sequence[PhaseResult]) -> None:
    print(
        f"\n{'offered':>10} {'201/s':>7} {'429/s':>7} {'conf/s':>7} {'expired':>7} "
        f"{'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}   CPU ms per confirmed booking"
    )
    for result in results:
        too_many = result.answered.get(429, 0) / max(result.seconds, 1e-9)
        cpu = ", ".join(
            f"{name} {1000 * seconds / max(result.confirmed, 1):.2f}"
            for name, seconds in result.cpu_seconds.items()
            if seconds > 0.05
        )
        print(
            f"{result.label:>10} {result.accepted_per_second:7.0f} {too_many:7.0f} "
            f"{result.confirmed_per_second:7.0f} {result.expired:7d} "
            f"{result.percentile(0.5):7.1f} {result.percentile(0.9):7.1f} "
            f"{result.percentile(0.99):7.1f} {max(result.latencies_ms, default=0):7.1f}   {cpu}"
        )
        print(
            f"{'':>10} {sum(result.answered.values())} sent, {result.accepted} accepted,"
            f" {result.confirmed} confirmed, {result.expired} expired,"
            f" {result.waiting} still waiting"
        )
        if result.loop_shares:
            loops = ", ".join(
                f"{name} {100 * ran:.0f} / {100 * waited:.0f} %"
                for name, (ran, waited) in result.loop_shares.items()
            )
            print(f"{'':>10} event loops on a core / waiting for one: {loops}")
        others = {s: n for s, n in result.answered.items() if s not in (201, 429)}
        if others:
            print(f"{'':>10} other answers: {others}")
    within = [r for r in results if r.percentile(0.99) <= LATENCY_TARGET_P99_MS and r.expired == 0]
    if within:
        best = max(within, key=lambda r: r.confirmed_per_second)
        print(
            f"\nhighest rate with p99 <= {LATENCY_TARGET_P99_MS:.0f} ms: {best.label} "
            f"({best.confirmed_per_second:.0f} confirmed/s)"
        )
    for result in results:
        both = sum(result.cpu_seconds.get(s, 0.0) for s in BOOKING_SERVICES)
        print(
            f"{result.label:>10}: Care Plan + Provider Schedule "
            f"{1000 * both / max(result.confirmed, 1):.2f} ms CPU per booking; the host stole"
            f" {100 * result.stolen_share:.0f} % of the machine's CPU time"
        )
    print(f"(machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB)")


async def main(arguments: argparse.Namespace) -> None:
    if not arguments.sampling:
        await run(DevstackSettings(), arguments, label="")
        return
    # Each sampling restarts the booking path's services with it (bench/tracing_switch.py).
    settings = DevstackSettings()
    sink = ensure_otlp_endpoint(settings)
    try:
        for sampling in arguments.sampling:
            print(f"\n#### tracing {sampling} ####", flush=True)
            await run(restart_with_sampling(settings, sampling), arguments, label=sampling)
    finally:
        if sink is not None:
            sink.shutdown()


async def run(
    settings: DevstackSettings, arguments: argparse.Namespace, *, label: str
) -> list[PhaseResult]:
    platform = Platform(settings, arguments.replicas)
    connection = await asyncpg.connect(libpq_dsn(settings.sqlalchemy_url))
    database = CarePlanDatabase(connection)
    patients = await platform.create_patients(arguments.patients)
    results = []
    try:
        if arguments.warmup_seconds > 0:
            print(f"warm-up, {WARMUP_RATE:g}/s for {arguments.warmup_seconds:g} s:", flush=True)
            await run_phase(
                platform,
                database,
                patients,
                rate=WARMUP_RATE,
                connections=0,
                seconds=arguments.warmup_seconds,
            )
        if arguments.overload:
            phases: list[float | None] = [None]
        else:
            phases = list(arguments.rates)
        for rate in phases:
            print(f"phase {rate or 'closed loop'}:", flush=True)
            result = await run_phase(
                platform,
                database,
                patients,
                rate=rate,
                connections=arguments.overload,
                seconds=arguments.seconds,
                ready=_told_to_start if arguments.start_on_stdin else None,
            )
            results.append(result)
            report([result])
            if arguments.result_json:
                PhaseFigures.of(result).write(arguments.result_json)
            if rate and result.confirmed_per_second < 0.8 * rate:
                print("  saturated: higher rates are not offered", flush=True)
                break
    finally:
        await connection.close()
    print(f"\n== booking benchmark{f' (tracing {label})' if label else ''} ==")
    report(results)
    return results


async def _told_to_start() -> None:
    """Says it is ready to send, and waits for a line on stdin: ``tracing_side_by_side.py``
    starts two platforms' phases at the same moment."""
    print(READY, flush=True)
    await asyncio.to_thread(sys.stdin.readline)


@dataclass(frozen=True)
class PhaseFigures:
    """A phase's figures as a runner in another process reads them (``--result-json``)."""

    label: str
    confirmed_per_second: float
    accepted_per_second: float
    refused: int
    confirmed: int
    expired: int
    p99_ms: float
    cpu_ms_per_booking: dict[str, float]
    loop_shares: dict[str, tuple[float, float]]

    @classmethod
    def of(cls, result: PhaseResult) -> PhaseFigures:
        return cls(
            label=result.label,
            confirmed_per_second=result.confirmed_per_second,
            accepted_per_second=result.accepted_per_second,
            refused=result.answered.get(429, 0),
            confirmed=result.confirmed,
            expired=result.expired,
            p99_ms=result.percentile(0.99),
            cpu_ms_per_booking={
                name: 1000 * seconds / max(result.confirmed, 1)
                for name, seconds in result.cpu_seconds.items()
            },
            loop_shares=result.loop_shares,
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> PhaseFigures:
        figures = json.loads(path.read_text())
        shares = {name: (ran, waited) for name, (ran, waited) in figures["loop_shares"].items()}
        return cls(**{**figures, "loop_shares": shares})


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--overload", type=int, default=0, help="closed loop with this many connections instead"
    )
    parser.add_argument("--patients", type=int, default=200, help="bookings spread over them")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=5.0,
        help=f"bookings at {WARMUP_RATE:g}/s before the measured phases, not reported: a fresh "
        "platform's first requests (pools, caches, Kafka metadata) are not its steady state",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="replicas of each service to spread the load over (as `careplan up --replicas`)",
    )
    parser.add_argument(
        "--sampling",
        nargs="+",
        default=None,
        help="run the phases once per setting: off, or a sampling ratio (0.1, 1); restarts "
        "Care Plan and Provider Schedule with it",
    )
    parser.add_argument(
        "--start-on-stdin",
        action="store_true",
        help=f"before each measured phase's sending, print {READY!r} and wait for a line on stdin",
    )
    parser.add_argument(
        "--result-json", type=Path, default=None, help="write each phase's figures there"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
