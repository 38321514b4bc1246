"""Creates the outbox and inbox tables from a service's Alembic migration.

The tables are defined once (``outbox.py``, ``inbox.py``); a migration creates them in the
service's schema through the migration's connection.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from eventing.inbox import inbox_table
from eventing.outbox import outbox_table


def create_outbox_and_inbox(connection: Connection, schema: str) -> None:
    metadata = MetaData(schema=schema)
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.create_all(connection)


def drop_outbox_and_inbox(connection: Connection, schema: str) -> None:
    metadata = MetaData(schema=schema)
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.drop_all(connection)
