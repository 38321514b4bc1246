"""The garbage collector of a long-running service, set for a heap that is mostly built once.

Measured in Care Plan at a saturating 250 bookings/s (2-core machine, 2026-12-03, gc callbacks
timing every collection): with CPython's defaults the cycle collector took 2.4 s of one run's
event loop with tracing off and 4.0 s with tracing at 10 % (spans, contexts and attribute
dicts are many small containers), six to eight of them full collections of ~200 ms each,
every one a pause of the whole event loop while requests held their transactions open. Most of
what a full collection walks is what the process built before serving (modules, the app, its
routes and schemas, ~110,000 objects), which lives as long as the process anyway.

``settle_heap`` moves what exists into the permanent generation (``gc.freeze``), so no
collection walks it again, and collects the youngest generation after 10,000 allocations
instead of 700: a request's and a batch's objects mostly die by reference counting before
then, so fewer survive into older generations. The same run: 0.67 s off, 0.8 s at 10 %.
"""

from __future__ import annotations

import gc

# Allocations (less deallocations) between two collections of the youngest generation.
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Call once, when the process has built what it keeps and before it serves."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.freeze()
