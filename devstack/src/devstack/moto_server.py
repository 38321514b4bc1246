"""``python -m devstack.moto_server``: moto's server with two memoised hot spots of the tail.

Profiled under the sink's load (bench/serverless_tail.py), moto spent most of a PutEvents that
reaches SQS in two pure functions it recomputes on every event:

- ``jsonpath_ng.ext.parse``, which builds a new PLY parser for each input path of each target
  (8 paths per event for a target without an input transformer, 7 for the notification rules);
- ``camelcase_to_underscores``, run on every attribute name each time a queue's attributes are
  read, which ``SendMessage`` does once per message.

Both give the same answer for the same argument, so caching them changes no behaviour: only
CPU. In process, with a consumer keeping the queues short, this took the routed events moto
delivers from ~32/s to ~97/s on the shared 2-core machine. What remains grows with queue depth
(``SendMessage`` counts every message of the queue), which is why every queue has a consumer.
"""

from __future__ import annotations

import functools


def memoise_hot_spots() -> None:
    import jsonpath_ng.ext
    import moto.sqs.models

    # setattr: neither module re-exports the name it is given, and the stubs say so.
    for module, name in ((jsonpath_ng.ext, "parse"), (moto.sqs.models, "camelcase_to_underscores")):
        setattr(module, name, functools.lru_cache(maxsize=1024)(getattr(module, name)))


def main() -> None:
    memoise_hot_spots()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
