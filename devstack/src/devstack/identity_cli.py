"""``careplan token`` and ``careplan audit``: local tokens, and who read which patient's data."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devstack.settings import DevstackSettings
from eventing.audit import AuditLog, AuditRecord

console = Console()


def token(
    patient: Annotated[str | None, typer.Option(help="A patient's id: their token")] = None,
    provider: Annotated[str | None, typer.Option(help="A provider's id: its token")] = None,
    operator: Annotated[bool, typer.Option(help="An operator's token")] = False,
) -> None:
    """Print a bearer token of the local user pool, alone on the last line."""
    from devstack.cognito import issue_token, load_pool
    from devstack.moto import aws_client

    if sum((patient is not None, provider is not None, operator)) != 1:
        console.print("[red]give exactly one of --patient ID, --provider ID, --operator[/]")
        raise typer.Exit(2)
    settings = DevstackSettings()
    pool = load_pool(settings.state_dir)
    if pool is None:
        console.print("[red]no local user pool: run `careplan up` first[/]")
        raise typer.Exit(1)
    role = "patient" if patient else "provider" if provider else "operator"
    issued = issue_token(
        aws_client(settings, "cognito-idp"),
        pool,
        role=role,
        patient_id=patient,
        provider_id=provider,
    )
    # Plain print: rich would wrap the long token over several lines.
    print(issued)


def audit(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="The latest N records")] = 50,
) -> None:
    """List the Care Plan audit trail: who read or changed which patient's data, newest first."""
    settings = DevstackSettings()
    records = asyncio.run(_latest(settings.sqlalchemy_url, limit))
    table = Table(title=f"care_plan.audit (latest {len(records)})")
    for column in ("at", "who", "role", "action", "patient", "request id"):
        table.add_column(column)
    for record in records:
        entry = record.entry
        table.add_row(
            record.at.isoformat(timespec="seconds"),
            entry.subject,
            entry.role,
            entry.action,
            str(entry.patient_id or ""),
            entry.request_id,
        )
    console.print(table)


async def _latest(database_url: str, limit: int) -> list[AuditRecord]:
    from care_plan.persistence.tables import SCHEMA
    from eventing.database import Database

    database = Database(database_url)
    await database.open()
    try:
        return await AuditLog(database, SCHEMA).latest(limit)
    finally:
        await database.close()
