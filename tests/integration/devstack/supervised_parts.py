"""A catalog of stand-in parts for the supervisor tests, imported by the supervisor process.

``worker`` runs until ``<state dir>/fail-worker`` exists; then it logs a JSON error line with a
traceback, as our services do, and exits: a part that keeps dying until the cause is removed.
"""

from __future__ import annotations

import sys

from devstack.component import Component, NotReadyError, Tier
from devstack.processes import ProcessFiles, running_process
from devstack.settings import DevstackSettings

CATALOG = "tests.integration.devstack.supervised_parts:components"

_WORKER = """
import json, pathlib, sys, time, traceback
marker = pathlib.Path(sys.argv[1]) / "fail-worker"
while not marker.exists():
    time.sleep(0.1)
try:
    raise ConnectionRefusedError(111, "Connection refused")
except OSError:
    print(json.dumps({"level": "ERROR", "message": "could not reach the broker",
                      "exc_info": traceback.format_exc()}), flush=True)
sys.exit(3)
"""


def _running(name: str) -> Component:
    def ready(settings: DevstackSettings) -> None:
        if running_process(ProcessFiles.under(settings.state_dir, name)) is None:
            raise NotReadyError("not running")

    def command(settings: DevstackSettings) -> list[str]:
        if name == "worker":
            return [sys.executable, "-c", _WORKER, str(settings.state_dir.resolve())]
        return [sys.executable, "-c", "import time; time.sleep(300)"]

    return Component(
        name=name,
        tier=Tier.SERVICE,
        command=command,
        ready=ready,
        address=lambda _: "-",
        depends_on=("steady",) if name == "worker" else (),
    )


def components() -> list[Component]:
    return [_running("steady"), _running("worker")]
