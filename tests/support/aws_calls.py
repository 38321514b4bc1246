"""The AWS calls the deployables made during the test session, and the committed recording.

``tests/support/aws_call_hook/sitecustomize.py`` writes one JSON line per distinct call into
the session's log; ``deploy/terraform/aws-api-calls.json`` is the recording the IAM roles are
checked against (tests/unit/deploy/test_iam.py). The end-to-end test that drives every AWS path
compares the two, so the committed file cannot fall behind the code; run it with
``CAREPLAN_UPDATE_AWS_CALLS=1`` to rewrite the file after a deliberate change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOOK_DIR = REPO / "tests" / "support" / "aws_call_hook"
RECORDING = REPO / "deploy" / "terraform" / "aws-api-calls.json"
LOG_VARIABLE = "CAREPLAN_AWS_CALL_LOG"

# deployable -> sorted ["<service>:<Operation> <resource>", ...]
Calls = dict[str, list[str]]


def session_log(state_dir: Path) -> Path:
    """The log of a test session whose launcher keeps its state in ``state_dir``."""
    return state_dir / "aws-calls.jsonl"


@contextmanager
def recording_into(log: Path) -> Iterator[None]:
    """Every Python process started meanwhile (the launcher's) records its AWS calls in ``log``."""
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", LOG_VARIABLE)}
    path = [str(HOOK_DIR), *filter(None, [saved["PYTHONPATH"]])]
    os.environ["PYTHONPATH"] = os.pathsep.join(path)
    os.environ[LOG_VARIABLE] = str(log)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def recorded(log: Path) -> Calls:
    calls: dict[str, set[str]] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            calls.setdefault(entry["deployable"], set()).add(f"{entry['call']} {entry['resource']}")
    return {deployable: sorted(found) for deployable, found in sorted(calls.items())}


def committed() -> Calls:
    document = json.loads(RECORDING.read_text(encoding="utf-8"))
    calls: Calls = document["calls"]
    return calls


def write(calls: Calls) -> None:
    document = {
        "note": (
            "AWS API calls each deployable made in the integration and end-to-end tests "
            "(tests/support/aws_calls.py); the IAM roles of this folder allow exactly these "
            "(tests/unit/deploy/test_iam.py). Regenerate: CAREPLAN_UPDATE_AWS_CALLS=1 uv run "
            "pytest tests/e2e/test_serverless_tail.py"
        ),
        "calls": calls,
    }
    RECORDING.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
