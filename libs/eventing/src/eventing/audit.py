"""The audit trail of patient data: who read or changed which patient's data, as what, when,
in which request. One ``audit`` table per service schema, append-only: a trigger refuses every
UPDATE, DELETE and TRUNCATE, whoever the database user is (revoking the rights would not stop
the table's owner, which is the user the migrations run as).

A record is written when a route's dependency has let a caller reach a patient's data, before
the handler runs; if it cannot be written the request fails, so no read goes unrecorded. No
patient field is stored: the patient's id and the caller's token subject only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Column, DateTime, Identity, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Connection as SyncConnection

from eventing.database import Connection, Database

AUDIT_TABLE = "audit"
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's request id is kept only if it is a plain token: it is not a place for free text.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def audit_table(metadata: MetaData) -> Table:
    return Table(
        AUDIT_TABLE,
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("subject", Text, nullable=False),
        Column("role", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("patient_id", PG_UUID(as_uuid=True)),
        Column("request_id", Text, nullable=False),
    )


def create_audit_table(connection: SyncConnection, schema: str) -> None:
    """The table and the trigger that keeps it append-only (for a migration)."""
    metadata = MetaData(schema=schema)
    audit_table(metadata).create(connection)
    connection.execute(
        text(
            f'create function "{schema}".audit_is_append_only() returns trigger '
            "language plpgsql as $$ begin "
            "raise exception 'the audit trail is append-only (% refused)', tg_op "
            "using errcode = 'insufficient_privilege'; end $$"
        )
    )
    for event, level in (("update or delete", "row"), ("truncate", "statement")):
        connection.execute(
            text(
                f"create trigger audit_append_only_{event.split()[0]} before {event} "
                f'on "{schema}".{AUDIT_TABLE} for each {level} '
                f'execute function "{schema}".audit_is_append_only()'
            )
        )


def drop_audit_table(connection: SyncConnection, schema: str) -> None:
    connection.execute(text(f'drop table "{schema}".{AUDIT_TABLE}'))
    connection.execute(text(f'drop function "{schema}".audit_is_append_only()'))


@dataclass(frozen=True)
class AuditEntry:
    subject: str
    role: str
    action: str
    patient_id: UUID | None
    request_id: str


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    entry: AuditEntry


def request_id_of(presented: str | None) -> str:
    if presented is not None and _REQUEST_ID.match(presented):
        return presented
    return uuid.uuid4().hex


class AuditLog:
    def __init__(self, database: Database, schema: str) -> None:
        self._database = database
        self._insert = (
            f'insert into "{schema}".{AUDIT_TABLE} (subject, role, action, patient_id, request_id) '
            "values ($1, $2, $3, $4, $5)"
        )
        self._select = (
            f'select id, at, subject, role, action, patient_id, request_id from "{schema}".'
            f"{AUDIT_TABLE} order by id desc limit $1"
        )

    async def append(self, entry: AuditEntry) -> None:
        async with self._database.connection() as connection:
            await self.append_on(connection, entry)

    async def append_on(self, connection: Connection, entry: AuditEntry) -> None:
        """In the caller's transaction: the record commits with the change it audits (one
        commit, and one pooled connection, fewer per booking than a record of its own)."""
        await connection.execute(
            self._insert,
            entry.subject,
            entry.role,
            entry.action,
            entry.patient_id,
            entry.request_id,
        )

    async def latest(self, limit: int) -> list[AuditRecord]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(self._select, limit)
        return [
            AuditRecord(
                row["id"],
                row["at"],
                AuditEntry(
                    row["subject"], row["role"], row["action"], row["patient_id"], row["request_id"]
                ),
            )
            for row in rows
        ]
