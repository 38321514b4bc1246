"""Tables, repositories, unit of work and Alembic history of schema ``provider_schedule``."""
