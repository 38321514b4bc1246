"""``/health/live``, ``/health/ready`` and ``/metrics`` from a stdlib HTTP server thread.

For the deployables that are not web applications (the Insurance Processor's Quix Streams loop,
the EventBridge sink's consumer): a daemon thread with ``http.server`` answers the probes
without a web framework in their images. The HTTP services use ``eventing.health`` (FastAPI).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from confluent_kafka.admin import AdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], None]
"""Returns if the dependency is usable, raises with the reason if not."""


def kafka_check(client_config: Mapping[str, Any], *, timeout: float = 2.0) -> ReadinessCheck:
    admin = AdminClient({**client_config, "log_level": 0})

    def check() -> None:
        admin.list_topics(timeout=timeout)

    return check


def flag_check(flag: threading.Event, reason: str) -> ReadinessCheck:
    def check() -> None:
        if not flag.is_set():
            raise RuntimeError(reason)

    return check


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        checks: Mapping[str, ReadinessCheck],
        metrics: Callable[[], bytes] = generate_latest,
    ) -> None:
        """:param metrics: the Prometheus exposition, by default of the process-wide registry."""
        handler = _handler_class(checks, metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def readiness(checks: Mapping[str, ReadinessCheck]) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "UP"
        except Exception as error:
            results[name] = f"DOWN: {type(error).__name__}: {error}"[:200]
    return all(value == "UP" for value in results.values()), results


def _handler_class(
    checks: Mapping[str, ReadinessCheck], metrics: Callable[[], bytes]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health/live":
                self._send(HTTPStatus.OK, "application/json", _json({"status": "UP"}))
            elif path == "/health/ready":
                healthy, results = readiness(checks)
                status = "UP" if healthy else "DOWN"
                self._send(
                    HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE,
                    "application/json",
                    _json({"status": status, "checks": results}),
                )
            elif path == "/metrics":
                self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, metrics())
            else:
                self._send(HTTPStatus.NOT_FOUND, "application/json", _json({"detail": "Not Found"}))

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Probes every few seconds would drown the service's own logs.
            logger.debug("health request: " + format, *args)

    return Handler


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body).encode()
