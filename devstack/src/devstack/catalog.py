"""Every process `careplan up` runs, in one list: adding a process is one declaration here."""

from __future__ import annotations

from devstack.component import Component
from devstack.kafka import KAFKA
from devstack.moto import MOTO
from devstack.postgres import POSTGRES

INFRASTRUCTURE: tuple[Component, ...] = (KAFKA, POSTGRES, MOTO)


def platform_components() -> tuple[Component, ...]:
    return INFRASTRUCTURE
