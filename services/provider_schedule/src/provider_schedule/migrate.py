"""Applies the service's migrations: ``python -m provider_schedule.migrate [revision]``.

Run by `careplan up` before the service starts and by the Kubernetes init container; never on
import or at service start. Only ``DATABASE_URL`` is needed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from eventing import migrations
from eventing.logging import configure_logging
from eventing.settings import DatabaseSettings

MIGRATIONS = Path(__file__).resolve().parent / "persistence" / "migrations"

logger = logging.getLogger(__name__)


def upgrade(database_url: str, revision: str = "head") -> None:
    migrations.upgrade(MIGRATIONS, database_url, revision)


def downgrade(database_url: str, revision: str) -> None:
    migrations.downgrade(MIGRATIONS, database_url, revision)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    revision = arguments[0] if arguments else "head"
    configure_logging("INFO", service="provider-schedule-migrate")
    database = DatabaseSettings()
    logger.info("applying migrations", extra={"revision": revision})
    upgrade(database.database_url, revision)
    logger.info("migrations applied", extra={"revision": revision})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
