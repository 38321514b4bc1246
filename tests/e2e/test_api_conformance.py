"""Both HTTP APIs behave as their OpenAPI documents say: schemathesis, with every check it has
(`--checks all`), run against the services the launcher started, reports no failure.

Sized for `make test` (a few examples per operation, a fixed seed so that a run is repeatable);
`make conformance` runs it with many more (CAREPLAN_CONFORMANCE_EXAMPLES) and a random seed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Saga

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.parametrize("service", ["care-plan", "provider-schedule"])
async def test_the_api_matches_its_openapi_document(saga: Saga, service: str) -> None:
    port = {
        "care-plan": saga.settings.care_plan_port,
        "provider-schedule": saga.settings.provider_schedule_port,
    }[service]
    examples = os.environ.get("CAREPLAN_CONFORMANCE_EXAMPLES", "8")
    seed = os.environ.get("CAREPLAN_CONFORMANCE_SEED", "20261202")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(CONFIG),
        "--no-color",
        "run", f"http://127.0.0.1:{port}/openapi.json",
        "--checks", "all",
        "--header", f"X-API-KEY: {saga.settings.api_key}",
        "--max-examples", examples,
        "--workers", "1",
        *(["--seed", seed] if seed else []),
    ]  # fmt: skip
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=900, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    assert "No issues found" in output or " passed" in output, output[-5_000:]
