"""The booking benchmark's tracing switch: restarts the booking path's services with tracing
off or at a sampling ratio, and gives their OTLP exports somewhere to go.

Spans go to Jaeger when `careplan up --with tracing` runs it; otherwise to a sink in this
process that accepts OTLP/HTTP and drops it (the exporters' work is the cost measured, not a
collector's). That sink runs on the cores it measures: its CPU is this process's, which the
benchmark prints as the load generator's.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devstack.catalog import platform_components
from devstack.platform import Platform
from devstack.settings import DevstackSettings

TRACED_PARTS = ["care-plan", "provider-schedule"]


def restart_with_sampling(settings: DevstackSettings, sampling: str) -> DevstackSettings:
    """``off``, or a ratio such as ``0.1``: the services restarted with it (the supervisor of
    `careplan up` is stopped by the restart; `careplan up` starts it again).

    Spans are exported at the SDK's default interval (5 s), as a deployment exports them, not
    at the 200 ms `careplan up` sets so that a trace shows while one looks: the cost measured
    is the one production pays."""
    ratio = None if sampling == "off" else float(sampling)
    configured = settings.model_copy(
        update={
            "tracing": ratio is not None,
            "trace_sample_ratio": 1.0 if ratio is None else ratio,
            "trace_export_delay_ms": None,
        }
    )
    launcher = Platform(configured, platform_components())
    launcher.down(TRACED_PARTS)
    launcher.up(TRACED_PARTS)
    return configured


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class _Drop(BaseHTTPRequestHandler):
    # Keep-alive, as a collector answers: over HTTP/1.0 every export opened a new connection,
    # a cost (1.4 % of Provider Schedule's samples in a py-spy profile) Jaeger never charges.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


def ensure_otlp_endpoint(settings: DevstackSettings) -> ThreadingHTTPServer | None:
    """A dropping OTLP/HTTP endpoint on the platform's OTLP port, unless one listens."""
    if _listening(settings.otlp_http_port):
        return None
    server = ThreadingHTTPServer(("127.0.0.1", settings.otlp_http_port), _Drop)
    threading.Thread(target=server.serve_forever, name="otlp-drop", daemon=True).start()
    return server
