"""``python -m care_plan.migrate``: bring the ``care_plan`` schema to the newest revision.

Runs before the service starts (the launcher, a Kubernetes init container); waits for the
database a little, since it may be starting too.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config

from care_plan.settings import Settings
from eventing.logging import configure_logging

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "persistence" / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, *, revision: str = "head", attempts: int = 30) -> None:
    for attempt in range(1, attempts + 1):
        try:
            command.upgrade(alembic_config(database_url), revision)
            return
        except OSError as error:  # connection refused while the database starts
            if attempt == attempts:
                raise
            logger.warning("database not reachable, retrying", extra={"error": str(error)})
            time.sleep(1)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="care-plan-migrate")
    upgrade(settings.database.database_url)
    logger.info("care_plan schema is current")


if __name__ == "__main__":
    main()
