"""``python -m care_plan``: the Care Plan service (HTTP, consumers, relay, sweeper)."""

from care_plan.main import main

main()
