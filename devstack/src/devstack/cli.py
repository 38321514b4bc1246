"""The `careplan` command: up, down, status and logs of the local platform, and local tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from devstack import identity_cli
from devstack.catalog import OPTIONAL_PARTS, platform_components
from devstack.cli_errors import aws_reachable
from devstack.dlt_cli import dlt
from devstack.jaeger import install_jaeger
from devstack.kafka import install_jars
from devstack.platform import (
    ComponentFailedError,
    EphemeralPortsError,
    Platform,
    PortsTakenError,
)
from devstack.processes import ProcessFiles, running_process
from devstack.replicas import ReplicaPlanError
from devstack.settings import DevstackSettings

app = typer.Typer(help="Run the Managed Care Plan platform on this machine.", no_args_is_help=True)
app.command()(identity_cli.token)
app.command()(identity_cli.audit)
console = Console()

_STATE_STYLE = {
    "ready": "green",
    "external": "cyan",
    "stopped": "dim",
    "crashed": "bold red",
    "restarting": "bold yellow",
}
# What the supervisor process imports to know the parts (the same list as here).
CATALOG = "devstack.catalog:platform_components"


# What `--with` accepts: optional parts, left out of `up` unless asked for.
_WITH_HELP = f"Also start these optional parts: {', '.join(OPTIONAL_PARTS)}."


def _platform(
    replicas: list[str] | None = None, *, tracing: bool = False
) -> tuple[DevstackSettings, Platform]:
    settings = DevstackSettings()
    if replicas:
        settings = settings.model_copy(update={"replicas": ",".join(replicas)})
    # Jaeger already running (an earlier `up --with tracing`): what starts now traces too.
    jaeger_runs = running_process(ProcessFiles.under(settings.state_dir, "jaeger")) is not None
    if tracing or jaeger_runs:
        settings = settings.model_copy(update={"tracing": True})
    try:
        platform = Platform(settings, platform_components(), supervisor_catalog=CATALOG)
    except ReplicaPlanError as error:
        console.print(f"[red]--replicas: {error}[/]")
        raise typer.Exit(2) from error
    return settings, platform


class _ProgressReporter:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def _task(self, component: str) -> TaskID:
        if component not in self._tasks:
            self._tasks[component] = self._progress.add_task(component, total=1)
        return self._tasks[component]

    def starting(self, component: str, message: str) -> None:
        self._progress.update(self._task(component), description=f"{component}: {message}")

    def ready(self, component: str, address: str, seconds: float) -> None:
        self._progress.update(
            self._task(component),
            description=f"[green]✔[/] {component} [dim]{address}[/] ({seconds:.1f} s)",
            completed=1,
        )


def _check_optional(with_: list[str] | None) -> set[str]:
    chosen = set(with_ or [])
    unknown = chosen - set(OPTIONAL_PARTS)
    if unknown:
        console.print(f"[red]--with: unknown {', '.join(sorted(unknown))}[/]. {_WITH_HELP}")
        raise typer.Exit(2)
    return chosen


@app.command()
def install(
    with_: Annotated[list[str] | None, typer.Option("--with", help=_WITH_HELP)] = None,
) -> None:
    """Fetch what the platform runs on (the Kafka jars, and Jaeger with tracing) into the
    cache folder."""
    settings = DevstackSettings()
    with console.status("Resolving the Kafka jars from Maven Central..."):
        libs = install_jars(settings)
    console.print(f"Kafka jars in [bold]{libs}[/]")
    if "tracing" in _check_optional(with_):
        with console.status("Building Jaeger from its Go module (minutes, once)..."):
            jaeger = install_jaeger(settings)
        console.print(f"Jaeger in [bold]{jaeger}[/]")


@app.command()
def up(
    only: Annotated[
        list[str] | None, typer.Option(help="Start only these components (and what they need).")
    ] = None,
    replicas: Annotated[
        list[str] | None,
        typer.Option(
            help="Replicas of every service (N) or of one (<part>=N); repeatable. Kept until "
            "`down`; a smaller plan stops the replicas beyond it."
        ),
    ] = None,
    with_: Annotated[list[str] | None, typer.Option("--with", help=_WITH_HELP)] = None,
) -> None:
    """Start the platform (idempotent) and wait until every part is usable."""
    optional = _check_optional(with_)
    settings, platform = _platform(replicas, tracing="tracing" in optional)
    if "tracing" in optional:
        with console.status("Building Jaeger from its Go module (once; minutes on 2 cores)..."):
            install_jaeger(settings)
    if only is None and optional:
        only = [
            c.part
            for c in platform.components
            if not c.optional or c.part in {OPTIONAL_PARTS[name] for name in optional}
        ]
    began = time.monotonic()
    with Progress(
        SpinnerColumn(finished_text=""),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        try:
            platform.up(only, reporter=_ProgressReporter(progress))
        except KeyError as error:  # an unknown part in --only
            progress.stop()
            parts = ", ".join(c.name for c in platform_components())
            console.print(f"[red]{error.args[0]}[/]. The parts are: {parts}.", highlight=False)
            raise typer.Exit(2) from error
        except PortsTakenError as error:
            progress.stop()
            _explain_ports_taken(error, settings)
            raise typer.Exit(1) from error
        except EphemeralPortsError as error:
            progress.stop()
            console.print(
                f"[bold red]✘ {error}[/]: an outgoing connection may take one at any time. "
                f"Nothing was started. Choose a CAREPLAN_PORT_OFFSET that keeps every port "
                f"below {error.ephemeral.start} (the highest base port is 16686, Jaeger's UI).",
                highlight=False,
            )
            raise typer.Exit(1) from error
        except ComponentFailedError as error:
            progress.stop()
            console.print(f"[bold red]✘ {error}[/]")
            console.print(
                f"Logs: {settings.state_dir / 'logs'} · `careplan logs {error.component}`"
            )
            raise typer.Exit(1) from error
    console.print(f"[bold green]Platform ready[/] in {time.monotonic() - began:.1f} s")
    _print_status(platform)


def _explain_ports_taken(error: PortsTakenError, settings: DevstackSettings) -> None:
    for conflict in error.conflicts:
        console.print(
            f"[bold red]✘ {conflict.component}: port {conflict.port} is taken[/] by "
            f"{conflict.holder}",
            highlight=False,
        )
    shift = settings.port_offset + 100
    moved = ", ".join(f"{c.component} on {c.port + 100}" for c in error.conflicts)
    console.print(
        f"Nothing was started. Stop what holds the port, or shift every port of the platform: "
        f"`CAREPLAN_PORT_OFFSET={shift} careplan up` ({moved}).",
        highlight=False,
    )


@app.command()
def down() -> None:
    """Stop everything `up` started."""
    _, platform = _platform()
    with console.status("Stopping..."):
        stopped = platform.down()
    console.print(f"Stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status() -> None:
    """Show each part of the platform, its state and where it listens."""
    settings, platform = _platform()
    crashed = _print_status(platform)
    from devstack.backlog_view import backlog_table

    console.print(backlog_table(settings))
    if crashed:
        raise typer.Exit(1)


def _print_status(platform: Platform) -> bool:
    supervisor = platform.supervisor_process()
    table = Table(
        title="Managed Care Plan platform",
        caption=f"supervisor: pid {supervisor}, restarts dead parts"
        if supervisor
        else "supervisor: not running, nothing restarts a dead part (`careplan up` starts it)",
    )
    for column in ("component", "state", "restarts", "pid", "address"):
        table.add_column(column)
    crashed = False
    errors: list[Text] = []
    for row in platform.status():
        style = _STATE_STYLE.get(row.state, "yellow")
        crashed = crashed or row.state in ("crashed", "restarting")
        table.add_row(
            row.name,
            Text.from_markup(f"[{style}]{row.state}[/]"),
            str(row.restarts or ""),
            str(row.pid or ""),
            row.address,
        )
        if row.detail:
            # One line per part, cut to the terminal's width: the table stays a table, and a
            # log line's [brackets] are not read as markup.
            line = Text(f"{row.name}: ", style="bold")
            line.append(" ".join(row.detail.split()), style="dim")
            errors.append(line)
    console.print(table)
    if errors:
        console.print("last error of each part that died (`careplan logs <part>` for more):")
        for line in errors:
            console.print(line, no_wrap=True, overflow="ellipsis")
    return crashed


@app.command()
def logs(
    component: Annotated[str, typer.Argument(help="kafka, postgres, moto or a service")],
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
) -> None:
    """Print (or follow) a component's log."""
    settings, _ = _platform()
    log_file = ProcessFiles.under(settings.state_dir, component).log_file
    if not log_file.exists():
        console.print(f"[red]No log for {component}[/] (looked in {log_file})")
        raise typer.Exit(1)
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), str(log_file)]
    raise typer.Exit(subprocess.call(argv))


@app.command()
def demo() -> None:
    """Play the booking story against the running platform and show each hop's timing."""
    from devstack.demo import Demo, DemoFailedError

    settings, platform = _platform()
    optional = set(OPTIONAL_PARTS.values())
    not_ready = [
        row.name
        for row in platform.status()
        if row.state not in ("ready", "external")
        and not (row.name in optional and row.state == "stopped")
    ]
    if not_ready:
        console.print(f"[red]Not running: {', '.join(not_ready)}[/]. Start it with `careplan up`.")
        raise typer.Exit(1)
    try:
        Demo(settings, console).run()
    except DemoFailedError as error:
        console.print(f"[bold red]The demo stopped at: {error}[/]  (see `careplan logs <part>`)")
        raise typer.Exit(1) from error


care_plan = typer.Typer(help="Care Plan operations.")
app.add_typer(care_plan, name="care-plan")


@care_plan.command("rebuild")
def care_plan_rebuild() -> None:
    """Rebuild Care Plan's availability read model from the compacted provider.availability."""
    settings, platform = _platform()
    _require_running(platform, ["kafka", "postgres"])
    env = {**os.environ, **settings.service_environment()}
    with console.status("Replaying provider.availability into the read model..."):
        code = subprocess.call([sys.executable, "-m", "care_plan.rebuild_read_model"], env=env)
    if code:
        raise typer.Exit(code)
    console.print("[green]Read model rebuilt[/]")


app.add_typer(dlt, name="dlt")

clinic = typer.Typer(help="Clinic Operations: the visits created from on-site bookings.")
app.add_typer(clinic, name="clinic")


@clinic.command("visits")
def clinic_visits() -> None:
    """List the clinic visits in DynamoDB as a table."""
    from clinic_operations.visits import list_visits
    from devstack.moto import aws_client

    settings, _ = _platform()
    with aws_reachable(settings, "clinic-visits"):
        visits = list_visits(aws_client(settings, "dynamodb"), "clinic-visits")  # type: ignore[arg-type]
    table = Table(title=f"clinic-visits ({len(visits)})")
    for column in ("booking id", "patient", "slot", "status"):
        table.add_column(column)
    for visit in visits:
        patient = " ".join(p for p in (visit.patient_first_name, visit.patient_last_name) if p)
        slot = _slot_text(visit.slot_from, visit.slot_to)
        style = "green" if visit.status.value == "CONFIRMED" else "red"
        table.add_row(
            visit.booking_id, patient or visit.patient_id, slot, f"[{style}]{visit.status.value}[/]"
        )
    console.print(table)


@app.command()
def notifications() -> None:
    """List the notifications Patient Notifications sent (its DynamoDB ledger) as a table."""
    from devstack.moto import aws_client
    from patient_notifications.ledger import list_notifications

    settings, _ = _platform()
    with aws_reachable(settings, "patient-notifications"):
        rows = list_notifications(aws_client(settings, "dynamodb"), "patient-notifications")  # type: ignore[arg-type]
    table = Table(title=f"patient-notifications ({len(rows)})")
    for column in ("sent at", "booking id", "kind", "to", "subject", "state"):
        table.add_column(column)
    for row in rows:
        style = "green" if row.state == "SENT" else "yellow"
        table.add_row(
            (row.sent_at or "")[:19].replace("T", " "),
            row.booking_id,
            row.kind.value.lower(),
            row.recipient or row.patient_id,
            row.subject or "",
            f"[{style}]{row.state}[/]",
        )
    console.print(table)


def _require_running(platform: Platform, parts: list[str]) -> None:
    """One line, not a traceback from deep inside, when a part the command needs is down."""
    states = {row.name: row.state for row in platform.status()}
    down = [part for part in parts if states.get(part) not in ("ready", "external")]
    if down:
        console.print(
            f"[red]Not running: {', '.join(down)}[/]. Start it with "
            f"`careplan up --only {' --only '.join(down)}`.",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def trace(
    booking_id: Annotated[str, typer.Argument(help="The booking's id (as POST returned it)")],
) -> None:
    """Print a booking's trace from Jaeger as a span tree with timings (`up --with tracing`)."""
    import httpx

    from devstack.trace_view import count_spans, fetch_trace, find_trace_ids, render, span_tree

    settings, _ = _platform()
    try:
        with httpx.Client(base_url=settings.jaeger_url, timeout=10) as client:
            trace_ids = find_trace_ids(client, booking_id)
            if not trace_ids:
                console.print(f"[red]No trace for booking {booking_id}[/] in {settings.jaeger_url}")
                raise typer.Exit(1)
            roots = span_tree(fetch_trace(client, trace_ids[0]))
    except httpx.HTTPError as error:
        console.print(f"[red]Jaeger at {settings.jaeger_url}: {error}[/] (`up --with tracing`)")
        raise typer.Exit(1) from error
    title = f"trace {trace_ids[0]} · booking {booking_id} · {count_spans(roots)} spans"
    console.print(render(roots, title))
    console.print(f"[dim]{settings.jaeger_url}/trace/{trace_ids[0]}[/]")


def _slot_text(start: str | None, end: str | None) -> str:
    """``2026-11-27 14:00-14:30`` (UTC) from the ISO-8601 times of the visit."""
    if not start:
        return "?"
    return f"{start[:16].replace('T', ' ')}-{end[11:16] if end else '?'}"


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(app())
