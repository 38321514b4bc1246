"""``python -m devstack.moto_server``: moto's server with the hot spots of the tail taken out.

Profiled under the sink's load (bench/serverless_tail.py, py-spy on the moto process), moto spent
most of its CPU recomputing things whose answer does not change:

- ``jsonpath_ng.ext.parse``, which builds a new PLY parser for each input path of each target
  (8 paths per event for a target without an input transformer, 7 for the notification rules);
- ``camelcase_to_underscores``, run on every attribute name each time a queue's attributes are
  read;
- a queue's ``attributes`` property, which builds every attribute, including the three
  approximate message counts, each a pass over every message of the queue, when a caller wants
  one of them: ``SendMessage`` reads ``ContentBasedDeduplication`` once per message (so does each
  delivery of an EventBridge rule) and ``ReceiveMessage`` reads ``MessageRetentionPeriod`` three
  times per received message. With a few hundred messages on a queue, this was 62% of moto's CPU;
- SQS's ``unix_time``, which builds two ``datetime`` objects to say what ``time.time()`` says:
  called per message in those passes, it was 55% of moto's CPU (most of it inside the above).

- ``list_of_moto_modules``, which lists moto's folder and stats each entry on every request, under
  the dispatcher's lock, to find which service a request is for (13% of moto's CPU once the above
  were gone);
- werkzeug's line per request in moto's log (18%): only warnings and errors are kept.

Each replacement gives the same answer as moto's code for the same state, so it changes no
behaviour, only CPU: attributes are still all there, each computed when it is read.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any


def memoise_hot_spots() -> None:
    import jsonpath_ng.ext
    import moto.sqs.models

    # setattr: neither module re-exports the name it is given, and the stubs say so.
    for module, name in ((jsonpath_ng.ext, "parse"), (moto.sqs.models, "camelcase_to_underscores")):
        setattr(module, name, functools.lru_cache(maxsize=1024)(getattr(module, name)))


def epoch_seconds(original: Callable[[datetime | None], float]) -> Callable[..., float]:
    """moto's ``unix_time``: seconds since the epoch of a naive UTC datetime, now by default."""

    def unix_time(dt: datetime | None = None) -> float:
        return time.time() if dt is None else original(dt)

    return unix_time


def epoch_milliseconds(original: Callable[[datetime | None], float]) -> Callable[..., float]:
    def unix_time_millis(dt: datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)

    return unix_time_millis


class QueueAttributes(Mapping[str, Any]):
    """What moto's ``Queue.attributes`` returns, with each value computed when it is read.

    Same keys, same values, same rendering (booleans as ``"true"``/``"false"``, the redrive
    policy as JSON); every reader in moto only reads (``get``, ``in``, ``items``).
    """

    def __init__(self, queue: Any, attribute_to_field: Callable[[str], str]) -> None:
        self._queue = queue
        self._field = attribute_to_field
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        # In moto's order: a queue's own policy and redrive policy win over the base attribute.
        if name == "Policy" and self._queue.policy:
            value = self._queue.policy
        elif name == "RedrivePolicy" and self._queue.redrive_policy:
            value = json.dumps(self._queue.redrive_policy)
        else:
            value = getattr(self._queue, self._field(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def speed_up_sqs() -> None:
    import moto.sqs.models as sqs

    # setattr/getattr: moto.sqs.models does not re-export these names, and the stubs say so.
    for name, faster in (("unix_time", epoch_seconds), ("unix_time_millis", epoch_milliseconds)):
        setattr(sqs, name, faster(getattr(sqs, name)))

    def attribute_to_field(name: str) -> str:
        # Looked up at each call, so that it is the memoised one of memoise_hot_spots.
        return str(getattr(sqs, "camelcase_to_underscores")(name))  # noqa: B009

    sqs.Queue.attributes = property(  # type: ignore[assignment,method-assign]
        lambda queue: QueueAttributes(queue, attribute_to_field)
    )


def listed_once(original: Callable[[], Iterable[str]]) -> Callable[[], tuple[str, ...]]:
    """moto's modules: a folder of the installed package, which does not change while it runs."""
    modules = tuple(original())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    return list_of_moto_modules


def speed_up_dispatch() -> None:
    import moto.backends

    moto.backends.list_of_moto_modules = listed_once(moto.backends.list_of_moto_modules)
    # werkzeug logs each request at INFO; a level set before the server starts is kept.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main() -> None:
    memoise_hot_spots()
    speed_up_sqs()
    speed_up_dispatch()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
