"""`make mutation`: mutmut over the domain of both services and the eventing core.

mutmut expects the code under ``src/`` of the folder it runs in, so it runs once per package
of the uv workspace (each package's ``[tool.mutmut]`` names what to mutate and which tests
cover it). Every run starts from scratch: a result cached from older code proves nothing.
Prints each mutated module's score and every mutant that was not killed; exits non-zero when a
module falls below the target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTMUT = REPO / ".venv" / "bin" / "mutmut"
# The eventing tests share one running Kafka and PostgreSQL (CAREPLAN_TEST_SHARED_PLATFORM);
# those mutmut selects use unique schemas, topics and groups, so mutants run side by side.
AREAS = {
    "provider_schedule.domain": REPO / "services" / "provider_schedule",
    "care_plan.domain": REPO / "services" / "care_plan",
    "eventing": REPO / "libs" / "eventing",
}
KILLED = {"killed", "timeout"}


@dataclass(frozen=True, slots=True)
class Score:
    killed: int
    total: int
    not_killed: list[str]

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def module_of(mutant: str) -> str:
    """``eventing.relay.xǁOutboxRelayǁrun__mutmut_3`` -> ``eventing.relay``: mutmut names a
    mutant by module, then ``x_<function>`` or ``xǁ<class>ǁ<method>``."""
    parts = mutant.split(".")
    ends = [i for i, part in enumerate(parts) if part.startswith(("x_", "xǁ"))]
    return ".".join(parts[: ends[0]] if ends else parts[:-1])


def score(verdicts: dict[str, str]) -> Score:
    # A mutant that ran out of time did not pass the tests: mutmut counts it as killed too.
    killed = [name for name, verdict in verdicts.items() if verdict in KILLED]
    not_killed = [f"{name}: {v}" for name, v in sorted(verdicts.items()) if v not in KILLED]
    return Score(killed=len(killed), total=len(verdicts), not_killed=not_killed)


def run_area(folder: Path, mutant_glob: str | None, max_children: int) -> dict[str, Score]:
    """Each mutated module's score."""
    shutil.rmtree(folder / "mutants", ignore_errors=True)
    # mutmut runs pytest inside mutants/ and re-runs each test by its id, which only resolves
    # for tests under that folder: the repository's tests are linked in, not copied.
    (folder / "mutants").mkdir()
    (folder / "mutants" / "tests").symlink_to(REPO / "tests", target_is_directory=True)
    names = [mutant_glob] if mutant_glob else []
    # mutmut's progress spinner is noise in a log (its verdicts are read back below); when it
    # fails (a clean test run that does not pass), the end of what it said is the reason.
    run = subprocess.run(
        [MUTMUT, "run", "--max-children", str(max_children), *names],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.stdout.write(run.stdout.replace("\r", "\n")[-4000:])
        raise SystemExit(f"mutmut run failed in {folder} (exit {run.returncode})")
    listing = subprocess.run(
        [MUTMUT, "results", "--all", "true"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout
    verdicts = dict(line.strip().rsplit(": ", 1) for line in listing.splitlines() if ": " in line)
    if mutant_glob:
        verdicts = {name: v for name, v in verdicts.items() if fnmatch(name, mutant_glob)}
    modules: dict[str, dict[str, str]] = {}
    for name, verdict in verdicts.items():
        modules.setdefault(module_of(name), {})[name] = verdict
    return {module: score(of_module) for module, of_module in sorted(modules.items())}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--area", choices=sorted(AREAS), action="append")
    parser.add_argument("--mutants", help="only mutants whose name matches this glob")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--target", type=float, default=90.0)
    args = parser.parse_args(argv)
    below_target = []
    for area in args.area or sorted(AREAS):
        for module, result in run_area(AREAS[area], args.mutants, args.max_children).items():
            print(
                f"{module}: {result.killed}/{result.total} mutants killed ({result.percent:.1f} %)"
            )
            for line in result.not_killed:
                print(f"    not killed: {line}")
            if result.percent < args.target:
                below_target.append(module)
    if below_target:
        print(f"below {args.target} %: {', '.join(below_target)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
