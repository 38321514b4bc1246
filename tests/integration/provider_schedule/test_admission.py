"""Provider Schedule's admission control measures its outbox on a connection of its own."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.provider_schedule.conftest import ScheduleApp
from tests.support.database import every_pooled_connection_held

pytestmark = pytest.mark.integration


async def test_the_outbox_backlog_is_measured_while_request_handlers_hold_every_pooled_connection(
    schedule_app: ScheduleApp, client: httpx.AsyncClient
) -> None:
    """An overload holds the pool with more handlers waiting for it: a probe among them would
    report a backlog long gone (and readiness would time out) exactly when they matter."""
    async with every_pooled_connection_held(schedule_app.container.database):
        await asyncio.wait_for(schedule_app.container.admission.sample(), timeout=10)
        ready = await asyncio.wait_for(client.get("/health/ready"), timeout=10)
        assert ready.status_code == 200, ready.text
