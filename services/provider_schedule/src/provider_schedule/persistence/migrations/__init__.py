"""Alembic history of schema ``provider_schedule``: ``python -m provider_schedule.migrate``."""
