"""The API key check."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from eventing.api_key import is_open, key_matches

KEY = SecretStr("the-key")


def test_only_the_exact_key_matches() -> None:
    assert key_matches("the-key", KEY)
    assert not key_matches("the-key ", KEY)
    assert not key_matches("THE-KEY", KEY)
    assert not key_matches("", KEY)
    assert not key_matches(None, KEY)
    assert not key_matches("clé-non-ascii", KEY)


@pytest.mark.parametrize(
    ("path", "open_"),
    [
        ("/health/live", True),
        ("/health/ready", True),
        ("/metrics", True),
        ("/docs", True),
        ("/openapi.json", True),
        ("/providers", False),
        ("/providers/1/availability", False),
        ("/healthz", False),
        ("/", False),
    ],
)
def test_health_metrics_and_documents_are_open_everything_else_is_not(
    path: str, open_: bool
) -> None:
    assert is_open(path) is open_
