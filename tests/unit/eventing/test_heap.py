"""eventing.heap: what the process built before serving is out of the collector's sight, and
the youngest generation is collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from eventing.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_what_exists_is_frozen_and_young_objects_wait_longer(restored_collector: None) -> None:
    _, middle, old = gc.get_threshold()
    gc.unfreeze()
    built = {"kept": ["for the process's life"]}
    assert any(tracked is built for tracked in gc.get_objects())

    settle_heap()

    assert gc.get_freeze_count() > 0
    assert not any(tracked is built for tracked in gc.get_objects()), "no collection walks it"
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
