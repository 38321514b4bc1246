"""The event-flow page as a part of `careplan up`."""

from __future__ import annotations

import sys

import httpx

from devstack.component import Component, NotReadyError, Tier
from devstack.settings import DevstackSettings


def _ready(settings: DevstackSettings) -> None:
    url = f"http://127.0.0.1:{settings.flow_port}/health/ready"
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError as error:
        raise NotReadyError(str(error)) from error
    if response.status_code != 200:
        raise NotReadyError(f"{url} answered {response.status_code}")


FLOW = Component(
    name="flow",
    tier=Tier.SERVICE,
    command=lambda _: [sys.executable, "-m", "devstack.flow"],
    ready=_ready,
    address=lambda s: f"http://127.0.0.1:{s.flow_port}",
    # The page reads the launcher's own settings (ports, offset, tracing on or off).
    environment=lambda s: s.as_environment(),
    # The form books through the services, but the page itself only needs the broker.
    depends_on=("kafka",),
)
