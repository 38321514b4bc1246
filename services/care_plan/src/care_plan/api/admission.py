"""Which requests admission control may refuse: booking a slot (it starts the saga whose
confirming path is what falls behind). Reads, patients and cancellations always pass."""

from __future__ import annotations

import re

_BOOKINGS = re.compile(r"^/patients/[^/]+/bookings/?$")
BOOK_A_SLOT = "/patients/{patientId}/bookings"


def guarded_write(method: str, path: str) -> str | None:
    """The route template of a guarded write, or None."""
    return BOOK_A_SLOT if method == "POST" and _BOOKINGS.match(path) else None
