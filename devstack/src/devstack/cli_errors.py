"""What the CLI says, in one line, when an expected situation stops a command: the platform (or
the part the command needs) is not running, or what it reads does not exist yet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from botocore.exceptions import ClientError, EndpointConnectionError
from rich.console import Console

from devstack.settings import DevstackSettings

console = Console()


@contextmanager
def aws_reachable(settings: DevstackSettings, table: str) -> Iterator[None]:
    try:
        yield
    except EndpointConnectionError as error:
        console.print(
            f"[red]AWS (moto) at {settings.aws_endpoint} is not running.[/] "
            "Start it with `careplan up`.",
            highlight=False,
        )
        raise typer.Exit(1) from error
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        console.print(
            f"[red]The table {table} does not exist yet.[/] `careplan up` creates it.",
            highlight=False,
        )
        raise typer.Exit(1) from error
