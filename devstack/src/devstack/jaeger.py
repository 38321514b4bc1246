"""Jaeger v2 (all-in-one, in-memory storage): where the services' OTLP traces go locally.

Built once from its Go module into the cache folder, as Kafka's jars are fetched once: a small
module declares Jaeger as a Go tool (``go get -tool``), then ``go build`` makes the binary.
The build takes minutes on two cores, so it is opt-in (`careplan up --with tracing` or
`careplan install --with tracing`): `make demo` on a fresh machine does not wait for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devstack.component import Component, Tier
from devstack.probes import http_ready
from devstack.settings import DevstackSettings

JAEGER_VERSION = "1.76.0"
JAEGER_PACKAGE = "github.com/jaegertracing/jaeger/cmd/jaeger"
NAME = "jaeger"

# Only the parts the platform uses: OTLP in, memory storage, the query API and UI. Jaeger's
# own metrics are off, since their fixed port (8888) would clash between port offsets.
_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: memory_store
    http:
      endpoint: 127.0.0.1:{ui_port}
    grpc:
      endpoint: 127.0.0.1:{query_grpc_port}
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc_port}
      http:
        endpoint: 127.0.0.1:{otlp_http_port}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
"""


def build_dir(settings: DevstackSettings) -> Path:
    return settings.cache_dir / "jaeger-build"


def binary(settings: DevstackSettings) -> Path:
    return build_dir(settings) / f"jaeger-v{JAEGER_VERSION}"


def installed(settings: DevstackSettings) -> bool:
    return binary(settings).exists()


def install_jaeger(settings: DevstackSettings) -> Path:
    """Build the Jaeger binary from its Go module into the cache folder (once)."""
    target = binary(settings)
    if target.exists():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build Jaeger (tracing); install it first")
    folder = build_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # Builds run by concurrent sessions must not see a half-written binary: build under a
    # private name, then rename (atomic on one file system).
    partial = folder / f"{target.name}.{os.getpid()}.partial"
    if not (folder / "go.mod").exists():
        subprocess.run(["go", "mod", "init", "careplan.local/jaeger"], cwd=folder, check=True)
    subprocess.run(
        ["go", "get", "-tool", f"{JAEGER_PACKAGE}@v{JAEGER_VERSION}"], cwd=folder, check=True
    )
    subprocess.run(["go", "build", "-o", str(partial), JAEGER_PACKAGE], cwd=folder, check=True)
    partial.replace(target)
    return target


def _config_file(settings: DevstackSettings) -> Path:
    return settings.state_dir / NAME / "config.yaml"


def _prepare(settings: DevstackSettings) -> None:
    if not installed(settings):
        raise RuntimeError(
            "Jaeger is not built yet: `careplan install --with tracing` builds it (minutes)"
        )
    config = _config_file(settings)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        _CONFIG.format(
            ui_port=settings.jaeger_ui_port,
            query_grpc_port=settings.port(16685),
            otlp_grpc_port=settings.otlp_grpc_port,
            otlp_http_port=settings.otlp_http_port,
        )
    )


JAEGER = Component(
    name=NAME,
    tier=Tier.INFRASTRUCTURE,
    command=lambda s: [str(binary(s)), "--config", str(_config_file(s).resolve())],
    ready=http_ready(lambda s: f"{s.jaeger_url}/api/services"),
    address=lambda s: f"{s.jaeger_url} · OTLP :{s.otlp_http_port}",
    ports=lambda s: (s.jaeger_ui_port, s.otlp_grpc_port, s.otlp_http_port),
    prepare=_prepare,
    optional=True,
)
