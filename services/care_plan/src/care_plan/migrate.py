"""``python -m care_plan.migrate``: bring the ``care_plan`` schema to the newest revision.

Runs before the service starts (the launcher, a Kubernetes init container), never on import.
"""

from __future__ import annotations

import logging
from pathlib import Path

from care_plan.settings import Settings
from eventing import migrations
from eventing.logging import configure_logging

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "persistence" / "migrations"


def upgrade(database_url: str, *, revision: str = "head") -> None:
    migrations.upgrade(MIGRATIONS, database_url, revision)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="care-plan-migrate")
    upgrade(settings.database.database_url)
    logger.info("care_plan schema is current")


if __name__ == "__main__":
    main()
