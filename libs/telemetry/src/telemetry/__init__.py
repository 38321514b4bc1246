"""OpenTelemetry tracing shared by every deployable (services and Lambda functions)."""

from telemetry.tracing import (
    Tracing,
    configure_tracing,
    exemplar,
    format_traceparent,
    new_traceparent,
)

__all__ = ["Tracing", "configure_tracing", "exemplar", "format_traceparent", "new_traceparent"]
