"""``python -m eventbridge_sink``: forward the booking topics to EventBridge."""

from __future__ import annotations

import asyncio

from eventbridge_sink.bootstrap import serve
from eventbridge_sink.settings import SinkSettings
from eventing.logging import configure_logging
from eventing.settings import KafkaSettings
from telemetry import configure_tracing
from telemetry.instrument import instrument_botocore, instrument_only_inside_spans


def main() -> None:
    settings = SinkSettings()
    configure_logging(settings.log_level, service="eventbridge-sink")
    tracing = configure_tracing("eventbridge-sink")
    instrument_botocore(tracing)
    instrument_only_inside_spans(tracing)
    try:
        asyncio.run(serve(settings, KafkaSettings(), tracing=tracing))
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
