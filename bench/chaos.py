"""Chaos run: a steady booking load while every part of the platform is SIGKILLed, then checks.

    uv run python bench/chaos.py --replicas 1 2           # `make chaos`: both replica counts
    uv run python bench/chaos.py --replicas 1 --seconds 70 --small   # the e2e test's variant

For each replica count it brings the platform up with that many replicas of every service
(`careplan up --replicas N`, which leaves the supervisor running), creates free slots and
patients (one insured), and offers bookings at ``--rate`` per second for ``--seconds``, two
patients racing for each slot, half of the slots on-site (``chaos_load``). Meanwhile it kills
the parts one after the other (``chaos_kills.schedule``), each once it consumes again after
the previous kill. Then it waits for the platform to settle and checks (``chaos_checks``):

- one booking per Idempotency-Key; none left WAITING_FOR_CONFIRMATION;
- at most one CONFIRMED booking per slot, and Provider Schedule holds exactly those;
- a CONFIRMED clinic visit for every confirmed on-site booking, and no visit for the others;
- every confirmed insured booking on ``careplan.bookings.insured`` exactly once;
- every outbox drained;

and prints the share of raced slots that ended with a CONFIRMED booking and, per kill, the
seconds from the new process's start to consuming again. Exit status 1 when a check fails,
the share is below ``--min-share`` or a part did not consume again.

Settings as for `careplan`: run it against a state folder and port offset of its own
(``CAREPLAN_STATE_DIR=.careplan/chaos CAREPLAN_PORT_OFFSET=400``) beside another platform.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # Run as a script: bench/ is on the path for its siblings, not ahead of the packages.
    sys.path.append(sys.path.pop(0))

import asyncpg
from chaos_checks import Outcome, confirmed_share, run_checks
from chaos_kills import ProgressProbe, Restart, kill, rolling_schedule, schedule, wait_ready
from chaos_load import Endpoints, Slot, create_patients, create_slots, race

from devstack.catalog import platform_components
from devstack.cli import CATALOG
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from eventing.settings import libpq_dsn

RESTART_TARGET_SECONDS = 5.0
PATIENTS = 10


def _ports(platform: Platform, part: str) -> list[int]:
    return [urlparse(c.address(platform.settings)).port or 0 for c in platform.replicas(part)]


async def _wait_listed(settings: DevstackSettings, slots: Sequence[Slot]) -> None:
    connection = await asyncpg.connect(libpq_dsn(settings.sqlalchemy_url))
    try:
        ids = [uuid.UUID(slot.id) for slot in slots]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = await connection.fetchval(
                "select count(*) from care_plan.slots where id = any($1::uuid[])", ids
            )
            if listed == len(ids):
                return
            await asyncio.sleep(0.5)
        raise SystemExit("Care Plan did not list the run's slots within 120 s")
    finally:
        await connection.close()


def _kills(
    platform: Platform, targets: Sequence[tuple[str, signal.Signals]], lead: float, gap: float
) -> list[Restart]:
    probe = ProgressProbe(platform.settings)
    restarts = []
    try:
        time.sleep(lead)
        for target, how in targets:
            restart = kill(platform, probe, target, how)
            restarts.append(restart)
            print(f"  {how.name} {target}: {_seconds(restart.start_to_consuming)} s "
                  "start->consuming", flush=True)  # fmt: skip
            wait_ready(platform, _started(platform))
            time.sleep(gap)
    finally:
        probe.close()
    return restarts


def _started(platform: Platform) -> list[str]:
    """What `up` starts: every part but the optional ones (Jaeger)."""
    return [c.name for c in platform.components if not c.optional]


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


async def run(arguments: argparse.Namespace, replicas: int) -> bool:
    settings = DevstackSettings().model_copy(update={"replicas": str(replicas)})
    platform = Platform(settings, platform_components(), supervisor_catalog=CATALOG)
    print(f"\n== chaos, {replicas} replica(s) of each service ==", flush=True)
    await asyncio.to_thread(platform.up)
    await asyncio.to_thread(wait_ready, platform, _started(platform))
    care_plan = Endpoints(_ports(platform, "care-plan"), settings.api_key)
    providers = Endpoints(_ports(platform, "provider-schedule"), settings.api_key)
    try:
        targets = [(target, signal.SIGKILL) for target in schedule(platform, small=arguments.small)]
        if arguments.rolling:
            targets += [(target, signal.SIGTERM) for target in rolling_schedule(platform)]
        # The load goes on until the last kill is over, and a kill is only timed while records
        # flow: enough slots for the planned time plus up to a minute per kill.
        slot_count = int(arguments.rate / 2 * (arguments.seconds + 60 * len(targets)))
        slots = await create_slots(providers, slot_count)
        patients, insured = await create_patients(care_plan, PATIENTS)
        await _wait_listed(settings, slots)
        lead = 5.0
        gap = max(0.0, (arguments.seconds - 2 * lead) / len(targets) - 6.0)
        print(f"  bookings at {arguments.rate:g}/s for {arguments.seconds:.0f} s or until the "
              f"last kill is over; stops: {', '.join(f'{t} ({h.name})' for t, h in targets)}", flush=True)  # fmt: skip
        began = time.monotonic()
        stop = asyncio.Event()
        load = asyncio.create_task(
            race(care_plan, slots, patients, bookings_per_second=arguments.rate, stop=stop)
        )
        restarts = await asyncio.to_thread(_kills, platform, targets, lead, gap)
        await asyncio.sleep(max(lead, arguments.seconds - (time.monotonic() - began)))
        stop.set()
        attempts = await load
        raced = {attempt.slot.id for attempt in attempts}
        slots = [slot for slot in slots if slot.id in raced]
        print(f"  load ended after {time.monotonic() - began:.0f} s, {len(slots)} slots raced;"
              " checking", flush=True)  # fmt: skip
    finally:
        await care_plan.close()
        await providers.close()
    connection = await asyncpg.connect(libpq_dsn(settings.sqlalchemy_url))
    try:
        outcomes, bookings = await run_checks(
            settings, connection, slots, attempts, settle_seconds=arguments.settle
        )
    finally:
        await connection.close()
    share = confirmed_share(slots, bookings)
    _report(replicas, outcomes, restarts, share, arguments.min_share, attempts, bookings, insured)
    consumed = all(r.start_to_consuming is not None for r in restarts)
    return all(o.holds for o in outcomes) and share >= arguments.min_share and consumed


def _report(
    replicas: int,
    outcomes: Sequence[Outcome],
    restarts: Sequence[Restart],
    share: float,
    min_share: float,
    attempts: Sequence[object],
    bookings: Sequence[object],
    insured: str,
) -> None:
    from chaos_checks import CONFIRMED, Booking
    from chaos_load import Attempt

    typed_attempts = [a for a in attempts if isinstance(a, Attempt)]
    typed = [b for b in bookings if isinstance(b, Booking)]
    answers: dict[str, int] = {}
    for attempt in typed_attempts:
        key = str(attempt.status or f"none ({attempt.error})")
        answers[key] = answers.get(key, 0) + 1
    statuses: dict[str, int] = {}
    for booking in typed:
        statuses[booking.status] = statuses.get(booking.status, 0) + 1
    retried = sum(1 for a in typed_attempts if a.tries > 1)
    insured_confirmed = sum(
        1 for b in typed if b.status == CONFIRMED and b.payment_mode == "INSURANCE_PAY"
    )
    print(f"\n== chaos result, {replicas} replica(s) ==")
    print(f"requests: {len(typed_attempts)} ({retried} retried), answers {answers}")
    print(f"bookings: {statuses}; confirmed insured (patient {insured[:8]}): {insured_confirmed}")
    for outcome in outcomes:
        mark = "ok  " if outcome.holds else "FAIL"
        print(f"  [{mark}] {outcome.name}")
        for line in outcome.violations[:10]:
            print(f"         {line}")
        if len(outcome.violations) > 10:
            print(f"         ... {len(outcome.violations) - 10} more")
    verdict = "ok  " if share >= min_share else "FAIL"
    print(f"  [{verdict}] slots raced that ended CONFIRMED: {100 * share:.1f} % "
          f"(target >= {100 * min_share:.0f} %)")  # fmt: skip
    print(f"restarts (target: start -> consuming <= {RESTART_TARGET_SECONDS:.0f} s):")
    print(f"  {'part':24} {'signal':8} {'start->consuming':>17} {'kill->consuming':>16}")
    for restart in restarts:
        took = restart.start_to_consuming
        flag = "" if took is not None and took <= RESTART_TARGET_SECONDS else "  over target"
        print(f"  {restart.target:24} {restart.how:8} {_seconds(took):>15} s {_seconds(restart.kill_to_consuming):>14} s{flag}")  # fmt: skip


async def main(arguments: argparse.Namespace) -> int:
    passed = [await run(arguments, replicas) for replicas in arguments.replicas]
    return 0 if all(passed) else 1


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=150.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=6.0, help="bookings offered per second")
    parser.add_argument("--small", action="store_true", help="kill one replica of each part")
    parser.add_argument("--rolling", action="store_true",
                        help="then a rolling restart: SIGTERM every service replica, one at a time")  # fmt: skip
    parser.add_argument("--settle", type=float, default=90.0, help="seconds to wait for the tail")
    parser.add_argument("--min-share", type=float, default=0.99)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_arguments())))
