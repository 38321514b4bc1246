"""``careplan dlt``: look at, replay and purge the records parked in the dead-letter topics."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from contract.topics import DEAD_LETTER_SUFFIX, dead_letter_topic
from devstack.settings import DevstackSettings
from eventing.parked import ParkedRecord, Selection
from eventing.redrive import Redrive, UnknownTopicError

dlt = typer.Typer(help="Dead-letter topics: list, show, replay and purge parked records.")
console = Console()

TopicArgument = Annotated[
    str, typer.Argument(help="A topic or its dead-letter topic (provider.availability[.dlt])")
]


def _dead_letter(topic: str) -> str:
    return topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(topic)


@contextmanager
def _redrive() -> Iterator[Redrive]:
    """A client of the platform's broker; what goes wrong the expected way is one line."""
    settings = DevstackSettings()
    try:
        yield Redrive({"bootstrap.servers": settings.bootstrap_servers}, timeout=5.0)
    except UnknownTopicError as error:
        console.print(f"[red]No topic {error}[/]. `careplan dlt list` shows the dead-letter ones.")
        raise typer.Exit(1) from error
    except KafkaException as error:
        console.print(
            f"[red]Kafka at {settings.bootstrap_servers} did not answer[/] ({error.args[0]}). "
            "Is the platform up? Start it with `careplan up --only kafka`."
        )
        raise typer.Exit(1) from error


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h" if seconds < 172800 else f"{seconds // 86400} d"


@dlt.command("list")
def list_parked(
    topic: Annotated[str | None, typer.Argument(help="Show this topic's parked records")] = None,
) -> None:
    """Without a topic: each dead-letter topic and its depth. With one: its parked records."""
    with _redrive() as redrive:
        if topic is None:
            table = Table(title="dead-letter topics")
            table.add_column("topic")
            table.add_column("parked", justify="right")
            for name in redrive.dead_letter_topics():
                table.add_row(name, str(redrive.depth(name)))
            console.print(table)
            return
        name = _dead_letter(topic)
        records, replayed = redrive.parked(name), redrive.replayed()
    now = datetime.now(UTC)
    table = Table(title=f"{name} ({len(records)} parked)")
    for column in ("partition:offset", "reason", "error", "from", "age", "replayed"):
        table.add_column(column)
    for record in records:
        table.add_row(
            f"{record.partition}:{record.offset}",
            record.reason,
            record.error[:80],
            f"{record.original_topic}:{record.original_partition}:{record.original_offset}",
            _age(record.age(now)),
            "yes" if record.ref in replayed else "",
        )
    console.print(table)


@dlt.command("show")
def show(
    topic: TopicArgument,
    where: Annotated[str, typer.Argument(help="partition:offset, as `dlt list` prints it")],
) -> None:
    """One parked record: why it was parked, its headers and its payload."""
    partition, _, offset = where.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        console.print(f"[red]{where!r} is not partition:offset[/] (for example 0:12).")
        raise typer.Exit(2)
    name = _dead_letter(topic)
    with _redrive() as redrive:
        records = redrive.parked(name)
    found = [r for r in records if (r.partition, r.offset) == (int(partition), int(offset))]
    if not found:
        console.print(f"[red]No parked record {where} in {name}[/]. `careplan dlt list {topic}`")
        raise typer.Exit(1)
    _print_record(found[0])


def _print_record(record: ParkedRecord) -> None:
    console.print(f"[bold]{record.topic} {record.partition}:{record.offset}[/]")
    console.print(f"parked at   {record.parked_at().isoformat()}")
    console.print(f"reason      {record.reason}")
    console.print(f"error       {record.error}")
    console.print(
        f"from        {record.original_topic} partition {record.original_partition} "
        f"offset {record.original_offset}"
    )
    console.print(f"key         {(record.key or b'').decode(errors='replace')}")
    for name, value in record.headers:
        console.print(f"header      {name}: {value.decode(errors='replace')}", markup=False)
    payload = (record.value or b"").decode(errors="replace")
    with contextlib.suppress(ValueError):  # not JSON (a malformed record): shown as it is
        payload = json.dumps(json.loads(payload), indent=2)
    console.print(payload, markup=False)


@dlt.command("replay")
def replay(
    topic: TopicArgument,
    everything: Annotated[bool, typer.Option("--all", help="Every parked record")] = False,
    reason: Annotated[str | None, typer.Option(help="Only records parked for this reason")] = None,
    partition: Annotated[int | None, typer.Option(help="Only this partition of the DLT")] = None,
    from_offset: Annotated[int | None, typer.Option(help="First DLT offset")] = None,
    to_offset: Annotated[int | None, typer.Option(help="Last DLT offset (inclusive)")] = None,
) -> None:
    """Publish the selected records again to their original topic and partition, with their
    key and headers and a `dlt-replayed-from` header; records replayed before are skipped."""
    selection = Selection(reason, partition, from_offset, to_offset)
    if not everything and selection == Selection():
        console.print("[red]Say which records:[/] --all, --reason, or an offset range.")
        raise typer.Exit(2)
    name = _dead_letter(topic)
    with _redrive() as redrive:
        plan = redrive.replay(name, selection)
    console.print(
        f"Replayed {len(plan.to_replay)} record(s) from {name}; "
        f"{len(plan.already_replayed)} replayed before, skipped"
    )
    for record in plan.unreplayable:
        console.print(f"[yellow]{record.partition}:{record.offset} names no original topic[/]")


@dlt.command("purge")
def purge(
    topic: TopicArgument,
    replayed_only: Annotated[
        bool, typer.Option("--replayed-only", help="Keep every record from the first not replayed")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking")] = False,
) -> None:
    """Delete the parked records of a dead-letter topic (Kafka deletes per partition up to an
    offset)."""
    name = _dead_letter(topic)
    if not yes and not typer.confirm(f"Delete the parked records of {name}?"):
        raise typer.Exit(1)
    with _redrive() as redrive:
        deleted = redrive.purge(name, only_replayed=replayed_only)
    console.print(f"Deleted {deleted} record(s) from {name}")
