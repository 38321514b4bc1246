"""Declarations of the platform's own processes, built the same way for every service."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from devstack.component import Component, Tier
from devstack.probes import http_ready
from devstack.processes import ProcessFiles
from devstack.replicas import PORT_STEP, replica_name
from devstack.settings import DevstackSettings


def _migrations(name: str, module: str | None) -> Callable[[DevstackSettings], None]:
    def migrate(settings: DevstackSettings) -> None:
        if module is None:
            return
        # Migrations finish before the service starts: it never serves an old schema. Their
        # output goes to the service's log, where `careplan logs` shows it.
        log_file = ProcessFiles.under(settings.state_dir, name).log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            subprocess.run(
                [sys.executable, "-m", module],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**_base_env(), **settings.service_environment()},
            )

    return migrate


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def service(
    *,
    name: str,
    module: str,
    port: Callable[[DevstackSettings], int],
    migrations: str | None = None,
    depends_on: tuple[str, ...] = ("kafka", "postgres"),
    extra_environment: Callable[[DevstackSettings, int], dict[str, str]] | None = None,
    replica: int = 0,
) -> Component:
    """A Python service run as ``python -m <module>`` that serves ``/health/ready`` on ``port``
    (replica ``i`` on ``port + i * PORT_STEP``); ``extra_environment`` gets the replica index."""

    def replica_port(settings: DevstackSettings) -> int:
        return port(settings) + replica * PORT_STEP

    process = replica_name(name, replica)
    return Component(
        name=process,
        tier=Tier.SERVICE,
        command=lambda _: [sys.executable, "-m", module],
        ready=http_ready(lambda s: f"http://127.0.0.1:{replica_port(s)}/health/ready"),
        address=lambda s: f"http://127.0.0.1:{replica_port(s)}",
        ports=lambda s: (replica_port(s),),
        # Every replica migrates before it starts (a no-op when the schema is current; the
        # migrate modules serialise concurrent runs): one restarted alone never serves an
        # older schema than the others.
        prepare=_migrations(process, migrations),
        environment=lambda s: {
            "HTTP_PORT": str(replica_port(s)),
            **(extra_environment(s, replica) if extra_environment else {}),
        },
        depends_on=depends_on,
        replicate=lambda index: service(
            name=name,
            module=module,
            port=port,
            migrations=migrations,
            depends_on=depends_on,
            extra_environment=extra_environment,
            replica=index,
        ),
        replica_of=name if replica else None,
        replica_index=replica,
    )
