"""JSON logs on stdout, one object per line, for every deployable."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from eventing.redaction import redact_value, redacted_traceback, scrub

# The attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class PatientDataFilter(logging.Filter):
    """The last line of defence: whatever a caller (or a library) put in a record, the line
    that leaves the process carries no repeated input, row or key values.

    Installed on the handler, not on a logger, so that it sees the records of every logger
    that propagates to the root (libraries' included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRIBUTES:
                setattr(record, name, redact_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            # The formatter would render str(exception): render it here, redacted, instead.
            record.exc_text = redacted_traceback(record.exc_info[1])
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def json_log_handler(*, service: str, stream: TextIO | None = None) -> logging.Handler:
    """The handler every deployable logs through: JSON lines, patient data filtered out."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(PatientDataFilter())
    return handler


def configure_logging(level: str = "INFO", *, service: str) -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_log_handler(service=service)]
    root.setLevel(level.upper())
