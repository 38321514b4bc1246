"""``python -m eventbridge_sink``: forward the booking topics to EventBridge."""

from __future__ import annotations

import asyncio

from eventbridge_sink.bootstrap import serve
from eventbridge_sink.settings import SinkSettings
from eventing.logging import configure_logging
from eventing.settings import KafkaSettings


def main() -> None:
    settings = SinkSettings()
    configure_logging(settings.log_level, service="eventbridge-sink")
    asyncio.run(serve(settings, KafkaSettings()))


if __name__ == "__main__":
    main()
