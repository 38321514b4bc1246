"""PostgreSQL: the service's own schema ``care_plan``, its tables, queries and migrations."""
