"""Exports the OpenAPI documents of the HTTP services to ``docs/openapi/``.

    python -m devstack.openapi docs/openapi          # (re)write them
    python -m devstack.openapi --check docs/openapi  # exit 1 if they are not current

The documents come from the apps themselves (FastAPI), built with their default settings and
without starting anything, so the files are exactly what ``/docs`` serves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _provider_schedule() -> dict[str, Any]:
    from eventing.settings import Environment
    from provider_schedule.bootstrap import bootstrap
    from provider_schedule.main import create_app
    from provider_schedule.settings import ProviderScheduleSettings

    container = bootstrap(ProviderScheduleSettings(environment=Environment.LOCAL))
    try:
        return create_app(container, run_workers=False).openapi()
    finally:
        container.producer.close(timeout=1)


def _care_plan() -> dict[str, Any]:
    from care_plan import bootstrap
    from care_plan.main import create_app
    from care_plan.settings import Settings
    from eventing.settings import Environment

    container = bootstrap.build(Settings(environment=Environment.LOCAL))
    return create_app(container, run_workers=False).openapi()


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "provider-schedule.openapi.json": _provider_schedule,
    "care-plan.openapi.json": _care_plan,
}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DOCUMENTS.items():
        path: Path = args.directory / name
        content = render(build())
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    if stale:
        print(
            f"stale: {', '.join(stale)}: run python -m devstack.openapi {args.directory}",
            file=sys.stderr,
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
