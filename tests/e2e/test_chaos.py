"""``make chaos`` sized down (``bench/chaos.py --small``, one replica): a booking load while each
part of a platform of its own is SIGKILLed once (both services, the insurance processor, the
sink, Clinic Operations, Kafka, PostgreSQL), then a rolling restart (SIGTERM, one service after
the other) under the same load; then every check of the chaos run must hold: one
booking per Idempotency-Key, none left waiting, at most one confirmed booking per slot and the
provider holding exactly those, one clinic visit per confirmed on-site booking, each insured
booking once on ``careplan.bookings.insured``, outboxes drained, >= 99 % of raced slots
confirmed, and every killed part consuming again.

It runs its own platform (it kills Kafka and PostgreSQL, which the session's platform serves
to every other test), on the session's port offset + 500, and stops it afterwards. Restart
timings are printed, not asserted: ``make chaos`` reports them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.settings import DevstackSettings
from tests.support.aws_calls import LOG_VARIABLE

# A platform of its own to start, a minute of load, a kill per part, a rolling restart and the
# tail to settle: well beyond the suite's default per-test timeout.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
OFFSET_FROM_SESSION = 500
CHECKS = (
    "one booking per Idempotency-Key",
    "none left WAITING_FOR_CONFIRMATION",
    "none EXPIRED",
    "at most one CONFIRMED per slot, the provider holds exactly those",
    "a CONFIRMED visit for each confirmed on-site booking, none for others",
    "each confirmed insured booking on careplan.bookings.insured once",
    "every outbox drained",
    "slots raced that ended CONFIRMED",
)


@pytest.fixture
def chaos_environment(devstack_settings: DevstackSettings) -> Iterator[dict[str, str]]:
    offset = devstack_settings.port_offset + OFFSET_FROM_SESSION
    environment = {
        # The bench is no deployable: its own AWS calls stay out of the session's record of
        # what the deployables call (the chaos run's platform too: it is not the session's).
        **{name: value for name, value in os.environ.items() if name != LOG_VARIABLE},
        "CAREPLAN_STATE_DIR": str(REPO / ".careplan" / f"test-{offset}"),
        "CAREPLAN_PORT_OFFSET": str(offset),
    }
    yield environment
    careplan = Path(sys.executable).with_name("careplan")
    subprocess.run([str(careplan), "down"], cwd=REPO, env=environment, capture_output=True,
                   timeout=180, check=False)  # fmt: skip


def test_every_chaos_check_holds_while_each_part_is_killed_once(
    chaos_environment: dict[str, str],
) -> None:
    finished = subprocess.run(
        [sys.executable, "bench/chaos.py", "--replicas", "1", "--small", "--rolling",
         "--seconds", "60", "--rate", "4"],
        cwd=REPO, env=chaos_environment, capture_output=True, text=True, timeout=1200,
        check=False,
    )  # fmt: skip
    output = finished.stdout + finished.stderr
    print(output)
    assert finished.returncode == 0, output
    result = output.split("== chaos result, 1 replica(s) ==")[1]
    for check in CHECKS:
        assert f"[ok  ] {check}" in result, output
    assert "[FAIL]" not in result, output
    killed = ("provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink",
              "clinic-operations", "kafka", "postgres")  # fmt: skip
    restarts = result.split("restarts (target")[1]
    for part in killed:
        assert re.search(rf"^  {part} +SIGKILL ", restarts, re.MULTILINE), output
    for part in (*killed[:5], "patient-notifications"):
        assert re.search(rf"^  {part} +SIGTERM ", restarts, re.MULTILINE), output
    assert " never " not in restarts, output
