"""Readiness checks over HTTP: a part is ready when a URL of its own answers 200."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from devstack.component import NotReadyError
from devstack.settings import DevstackSettings


def http_ready(url_of: Callable[[DevstackSettings], str]) -> Callable[[DevstackSettings], None]:
    """Raises NotReadyError until ``url_of(settings)`` answers 200 (a round trip to the
    process itself, not a port probe)."""

    def ready(settings: DevstackSettings) -> None:
        url = url_of(settings)
        try:
            response = httpx.get(url, timeout=2)
        except httpx.HTTPError as error:
            raise NotReadyError(str(error)) from error
        if response.status_code != 200:
            raise NotReadyError(f"{url} answered {response.status_code}: {response.text[:200]}")

    return ready
