"""``python -m devstack.flow``: the event-flow page, as `careplan up` runs it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import uvicorn

from devstack.flow.app import WireState, create_app
from devstack.flow.feed import WireFeed
from devstack.flow.hops import Record
from devstack.flow.story import StoryClient
from devstack.settings import DevstackSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = DevstackSettings()
    headers = {"X-API-KEY": settings.api_key}
    story = StoryClient(
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.provider_schedule_port}",
            headers=headers,
            timeout=10,
        ),
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.care_plan_port}", headers=headers, timeout=10
        ),
    )

    def start_feed(
        on_record: Callable[[Record], None], on_depths: Callable[[dict[str, int]], None]
    ) -> Callable[[], None]:
        feed = WireFeed(settings.bootstrap_servers, on_record=on_record, on_depths=on_depths)
        feed.start()
        return feed.stop

    app = create_app(
        state=WireState(),
        start_feed=start_feed,
        story=story,
        jaeger_url=settings.jaeger_url if settings.tracing else None,
    )
    uvicorn.run(app, host="127.0.0.1", port=settings.flow_port, log_level="warning")


if __name__ == "__main__":
    main()
