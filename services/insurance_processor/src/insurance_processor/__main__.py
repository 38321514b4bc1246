"""``python -m insurance_processor``: route insured bookings until SIGTERM or Ctrl+C.

The health server starts first, so that liveness answers while the application connects and
restores its state; readiness turns UP once the processing loop runs and Kafka answers.
Quix Streams stops its loop on SIGTERM and SIGINT, commits the current checkpoint and
returns; the process then exits 0.
"""

from __future__ import annotations

import logging
import threading

from eventing.logging import configure_logging
from eventing.probes import HealthServer, flag_check, kafka_check
from insurance_processor.app import build_application
from insurance_processor.metrics import ProcessorMetrics
from insurance_processor.settings import ProcessorSettings
from telemetry import configure_tracing

SERVICE = "insurance-processor"

logger = logging.getLogger("insurance_processor")


def main() -> None:
    settings = ProcessorSettings()
    configure_logging(settings.log_level, service=SERVICE)
    metrics = ProcessorMetrics()
    tracing = configure_tracing(SERVICE)
    running = threading.Event()
    health = HealthServer(
        settings.http_host,
        settings.http_port,
        checks={
            "processor": flag_check(running, "the processing loop has not started"),
            "kafka": kafka_check(settings.kafka.client_config()),
        },
        metrics=metrics.render,
    )
    health.start()
    try:
        app = build_application(settings, metrics=metrics, tracing=tracing)
        logger.info(
            "starting",
            extra={
                "topic": settings.input_topic,
                "output_topic": settings.output_topic,
                "consumer_group": settings.consumer_group,
                "state_dir": str(settings.state_dir),
                "http_port": health.port,
            },
        )
        running.set()
        app.run()
    finally:
        running.clear()
        health.stop()
        tracing.shutdown()
    logger.info("stopped")


if __name__ == "__main__":
    main()
