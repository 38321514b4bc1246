"""eventing is split by need: the Quix Streams app and the sink carry no web framework, no
SQLAlchemy, no asyncpg and no Alembic, neither in their dependency closure (what their image
installs) nor in what their modules import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# Distributions and the top-level modules they install.
HEAVY = {
    "fastapi": "fastapi",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "sqlalchemy": "sqlalchemy",
    "asyncpg": "asyncpg",
    "alembic": "alembic",
}
LEAN_PACKAGES = {
    "insurance-processor": "insurance_processor",
    "eventbridge-sink": "eventbridge_sink",
}
# eventing's base (no extra): what the lean packages may import from it.
EVENTING_BASE = [
    "cloudevents",
    "consumer",
    "consumer_types",
    "dead_letter",
    "logging",
    "membership",
    "probes",
    "producer",
    "settings",
    "supervision",
]


def uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".careplan" / "bootstrap" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is missing: run `make install`", pytrace=False)
    return found


def closure(package: str) -> set[str]:
    """The distributions ``uv sync --package`` installs for the image, from uv.lock."""
    result = subprocess.run(
        [uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-workspace",
         "--package", package],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    return {
        line.split("==")[0].split("[")[0].lower()
        for line in lines
        if line and not line.startswith(("#", "-e", "."))
    }


@pytest.mark.parametrize("package", sorted(LEAN_PACKAGES))
def test_the_image_of_a_lean_package_installs_no_web_framework_or_database_stack(
    package: str,
) -> None:
    installed = closure(package)
    assert "confluent-kafka" in installed, f"the closure of {package} was not read: {installed}"
    assert not installed & set(HEAVY), f"{package} pulls {sorted(installed & set(HEAVY))}"


def test_a_service_with_a_database_and_an_api_still_gets_them() -> None:
    assert {"fastapi", "starlette", "sqlalchemy", "asyncpg", "alembic"} <= closure("care-plan")


BLOCKER = """
import importlib, importlib.abc, json, pkgutil, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in this image")
        return None

BLOCKED = set(json.loads(sys.argv[1]))
sys.meta_path.insert(0, Refuse())
for name in json.loads(sys.argv[2]):
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=name + "."):
        importlib.import_module(info.name)
"""


def imports_without_heavy(modules: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, json.dumps(sorted(set(HEAVY.values()))),
         json.dumps(modules)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip


def test_the_lean_packages_and_eventing_base_import_without_the_heavy_modules() -> None:
    modules = sorted(LEAN_PACKAGES.values()) + [f"eventing.{name}" for name in EVENTING_BASE]
    result = imports_without_heavy(modules)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_import_check_sees_a_module_that_needs_the_database_extra() -> None:
    result = imports_without_heavy(["eventing.outbox"])
    assert result.returncode != 0
    assert "is not in this image" in result.stderr
