"""The one error body of the HTTP services (RFC 9457), checked the same way everywhere."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(
    response: httpx.Response, status: int, kind: str | None = None
) -> dict[str, Any]:
    """The response is an ``application/problem+json`` of ``status`` (and of type ``kind``)
    about the request's own path, with a detail for a person."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("https://")
    if kind is not None:
        assert body["type"].endswith(f"/{kind}"), body
    return body
