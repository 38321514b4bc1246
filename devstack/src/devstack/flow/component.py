"""The event-flow page as a part of `careplan up`."""

from __future__ import annotations

import sys

from devstack.component import Component, Tier
from devstack.probes import http_ready

FLOW = Component(
    name="flow",
    tier=Tier.TOOL,
    command=lambda _: [sys.executable, "-m", "devstack.flow"],
    ready=http_ready(lambda s: f"http://127.0.0.1:{s.flow_port}/health/ready"),
    address=lambda s: f"http://127.0.0.1:{s.flow_port}",
    ports=lambda s: (s.flow_port,),
    # The page reads the launcher's own settings (ports, offset, tracing on or off).
    environment=lambda s: s.as_environment(),
    # The form books through the services, but the page itself only needs the broker.
    depends_on=("kafka",),
)
