"""Which requests admission control may refuse: the writes that publish (a slot added, moved or
deleted; a provider changed or deleted), while the outbox is behind. Reads and registering a
provider (which publishes nothing) always pass."""

from __future__ import annotations

import re

_SLOTS = re.compile(r"^/providers/[^/]+/availability/?$")
_SLOT = re.compile(r"^/providers/[^/]+/availability/[^/]+/?$")
_PROVIDER = re.compile(r"^/providers/[^/]+/?$")


def guarded_write(method: str, path: str) -> str | None:
    """The route template of a guarded write, or None."""
    if method == "POST" and _SLOTS.match(path):
        return "/providers/{providerId}/availability"
    if method in ("PUT", "DELETE") and _SLOT.match(path):
        return "/providers/{providerId}/availability/{availabilityId}"
    if method in ("PUT", "PATCH", "DELETE") and _PROVIDER.match(path):
        return "/providers/{providerId}"
    return None
