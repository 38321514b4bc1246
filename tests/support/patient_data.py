"""Planted patient values and the checks that they never leave a service in a log line or a
dead-letter header (issue 13: patient data stays out of logs and headers).

The values are unlikely anywhere else, so finding one is a leak, not a coincidence. The date of
birth is a legacy ``dd.MM.yyyy`` date that does not exist: it passes the format check and fails
validation, so pydantic has to report it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Message

from devstack.settings import DevstackSettings
from eventing.logging import json_log_handler
from tests.support.kafka import read_all

FIRST_NAME = "Quillon-Planted"
LAST_NAME = "Vexmoor-Planted"
DATE_OF_BIRTH = "31.02.1977"
MEMBER_ID = "MBR-PLANTED-880417"
PLANTED = (FIRST_NAME, LAST_NAME, DATE_OF_BIRTH, MEMBER_ID)


def planted_patient(patient_id: str, **changes: Any) -> dict[str, Any]:
    """A patient in the contract's shape (booking events, ``POST /patients``) whose date of
    birth is invalid."""
    return {
        "id": patient_id,
        "firstName": FIRST_NAME,
        "lastName": LAST_NAME,
        "gender": "FEMALE",
        "dateOfBirth": DATE_OF_BIRTH,
        "insurance": {
            "payer": "Acme Health",
            "memberId": MEMBER_ID,
            "plan": "Gold",
            "validUntil": "2030-12-31",
        },
        **changes,
    }


@contextmanager
def service_log_lines() -> Iterator[io.StringIO]:
    """Everything logged meanwhile, through the handler every deployable logs through."""
    stream = io.StringIO()
    handler = json_log_handler(service="test", stream=stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def leaked_values(texts: Iterable[str | bytes]) -> list[tuple[str, str]]:
    """(planted value, where) for every planted value found in ``texts``."""
    found = []
    for text in texts:
        decoded = text.decode(errors="replace") if isinstance(text, bytes) else text
        found += [(value, decoded[:300]) for value in PLANTED if value in decoded]
    return found


def header_texts(headers: Iterable[tuple[str, bytes | None]]) -> list[bytes]:
    return [value for _, value in headers if value is not None]


async def parked_records(
    infrastructure: DevstackSettings, names: list[str], *, key: bytes, count: int
) -> list[Message]:
    """The dead-lettered records with ``key``, once ``count`` of them are there (or 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        found = [
            message
            for name in names
            for message in read_all(infrastructure, name, expect=0, timeout=5)
            if message.key() == key
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)
