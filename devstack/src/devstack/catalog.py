"""Every process `careplan up` runs, in one list: adding a process is one declaration here."""

from __future__ import annotations

from devstack.component import Component
from devstack.kafka import KAFKA
from devstack.moto import MOTO
from devstack.postgres import POSTGRES
from devstack.services import service

INFRASTRUCTURE: tuple[Component, ...] = (KAFKA, POSTGRES, MOTO)

PROVIDER_SCHEDULE = service(
    name="provider-schedule",
    module="provider_schedule",
    port=lambda s: s.provider_schedule_port,
    migrations="provider_schedule.migrate",
)
CARE_PLAN = service(
    name="care-plan",
    module="care_plan",
    port=lambda s: s.care_plan_port,
    migrations="care_plan.migrate",
)

SERVICES: tuple[Component, ...] = (PROVIDER_SCHEDULE, CARE_PLAN)


def platform_components() -> tuple[Component, ...]:
    return INFRASTRUCTURE + SERVICES
